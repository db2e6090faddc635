#!/usr/bin/env node
// Installs the pinned Open WebUI from PyPI into a venv outside the repository, for the suite that runs the real one.
// `pip install open-webui` would pull torch with CUDA wheels (~2.7 GB) only through sentence-transformers and
// accelerate, which nothing needs here: the wheel goes in with --no-deps, plus every Requires-Dist of its own METADATA
// (no extras) except those two. Idempotent: a finished venv is marked and reused. Prints the venv's path last; with
// --wheel, only downloads the wheel (for tests that read Open WebUI's own files) and prints its path.
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"

export const version = "0.12.4"
const cache = process.env.LETTA_PIPELINE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "letta-pipeline")
const dir = join(cache, `open-webui-${version}`)
const venv = join(dir, "venv")
const marker = join(venv, ".letta-pipeline-installed")
const python = process.env.PYTHON ?? "python3.11"
const log = (line) => process.stderr.write(`install-openwebui: ${line}\n`)
const run = (file, args, options = {}) =>
  execFileSync(file, args, { stdio: ["ignore", "inherit", "inherit"], timeout: 1_800_000, ...options })

const wheelOf = () => readdirSync(dir).find((name) => name.startsWith(`open_webui-${version}-`) && name.endsWith(".whl"))
mkdirSync(dir, { recursive: true })

if (process.argv.includes("--wheel")) {
  if (wheelOf() === undefined) run(python, ["-m", "pip", "download", "--quiet", "--no-deps", `open-webui==${version}`, "-d", dir])
  process.stdout.write(`${join(dir, wheelOf())}\n`)
  process.exit(0)
}

if (!existsSync(marker)) {
  const started = Date.now()
  rmSync(venv, { recursive: true, force: true })
  run(python, ["-m", "venv", venv])
  const pip = join(venv, "bin", "pip")
  const venvPython = join(venv, "bin", "python")
  // a Python built without these cannot run Open WebUI (a pyenv build can lack them)
  run(venvPython, ["-c", "import sqlite3, lzma, bz2, ssl, ctypes"])
  if (wheelOf() === undefined) run(pip, ["download", "--quiet", "--no-deps", `open-webui==${version}`, "-d", dir])
  const wheel = join(dir, wheelOf())
  const requirements = execFileSync(venvPython, ["-c", `
import re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
for line in meta.splitlines():
    if line.startswith("Requires-Dist:") and "extra ==" not in line:
        req = line.split(":", 1)[1].strip()
        if not re.match(r"(sentence-transformers|accelerate|torch)\\b", req, re.I):
            print(req)
`, wheel], { encoding: "utf8" })
  const requirementsFile = join(dir, "requirements.txt")
  writeFileSync(requirementsFile, requirements)
  log(`installing ${requirements.trim().split("\n").length} requirements of open-webui ${version} (without torch)`)
  run(pip, ["install", "--quiet", "--disable-pip-version-check", "-r", requirementsFile])
  run(pip, ["install", "--quiet", "--disable-pip-version-check", "--no-deps", wheel])
  // torch must not have come in through another requirement
  run(venvPython, ["-c", "import importlib.util as u, sys; bad=[m for m in ('torch','sentence_transformers','accelerate') if u.find_spec(m)]; sys.exit(f'installed anyway: {bad}' if bad else 0)"])
  writeFileSync(marker, `${new Date().toISOString()}\n`)
  log(`first install took ${Math.round((Date.now() - started) / 1000)} s`)
}
process.stdout.write(`${venv}\n`)
