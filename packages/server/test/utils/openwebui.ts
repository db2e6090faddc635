/**
 * Open WebUI's own task prompt templates (`DEFAULT_*_PROMPT_TEMPLATE` of `open_webui/config.py`), taken from the pinned
 * release on PyPI (the wheel is downloaded once into a cache outside the repository by `scripts/install-openwebui.mjs
 * --wheel`) and
 * filled in as Open WebUI fills them (`open_webui/utils/task.py`: `{{MESSAGES:END:n}}` as `ROLE: content` lines).
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

export const openWebUIVersion = "0.12.4"

const installer = resolve(fileURLToPath(new URL("../../../../scripts/install-openwebui.mjs", import.meta.url)))
const script = resolve(fileURLToPath(new URL("../../../../scripts/openwebui-task-templates.py", import.meta.url)))

/** The templates by name, e.g. `DEFAULT_TITLE_GENERATION_PROMPT_TEMPLATE`. */
export const taskTemplates = (): Readonly<Record<string, string>> => {
  const wheel = execFileSync("node", [installer, "--wheel"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 300_000 }).trim()
  const cached = join(dirname(wheel), "task-templates.json")
  if (!existsSync(cached)) writeFileSync(cached, execFileSync("python3", [script, wheel], { encoding: "utf8" }))
  return JSON.parse(readFileSync(cached, "utf8")) as Record<string, string>
}

/** A template filled in for this chat history, as Open WebUI sends it. */
export const fillTemplate = (template: string, history: ReadonlyArray<{ readonly role: string; readonly content: string }>) => {
  const lines = (count: number) => history.slice(-count).map((m) => `${m.role.toUpperCase()}: ${m.content}`).join("\n")
  const lastUser = history.findLast((m) => m.role === "user")?.content ?? ""
  return template
    .replace(/\{\{MESSAGES:END:(\d+)\}\}/g, (_, count: string) => lines(Number(count)))
    .replace(/\{\{MESSAGES\}\}/g, lines(history.length))
    .replace(/\{\{CURRENT_DATE\}\}/g, "2026-11-30")
    .replace(/\{\{TYPE\}\}/g, "General")
    .replace(/\{\{PROMPT\}\}/g, lastUser)
}
