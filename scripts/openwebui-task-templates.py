"""Prints Open WebUI's default task prompt templates as JSON: every DEFAULT_*_PROMPT_TEMPLATE string constant of
open_webui/config.py, read from the wheel given as the only argument (parsed, never imported or run)."""
import ast
import json
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as wheel:
    source = wheel.read("open_webui/config.py").decode("utf-8")

templates = {}
for node in ast.parse(source).body:
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
        continue
    name = node.targets[0].id
    if name.startswith("DEFAULT_") and name.endswith("_PROMPT_TEMPLATE") and isinstance(node.value, ast.Constant):
        if isinstance(node.value.value, str):
            templates[name] = node.value.value

json.dump(templates, sys.stdout, ensure_ascii=False)
