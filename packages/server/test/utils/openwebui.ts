/**
 * Open WebUI's own task prompt templates (`DEFAULT_*_PROMPT_TEMPLATE` of `open_webui/config.py`), taken from the pinned
 * release on PyPI (the wheel is downloaded once into a cache outside the repository, `pip download --no-deps`) and
 * filled in as Open WebUI fills them (`open_webui/utils/task.py`: `{{MESSAGES:END:n}}` as `ROLE: content` lines).
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

export const openWebUIVersion = "0.12.4"

const cacheDir = process.env.LETTA_PIPELINE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "letta-pipeline")
const script = resolve(fileURLToPath(new URL("../../../../scripts/openwebui-task-templates.py", import.meta.url)))

/** The templates by name, e.g. `DEFAULT_TITLE_GENERATION_PROMPT_TEMPLATE`. */
export const taskTemplates = (): Readonly<Record<string, string>> => {
  const dir = join(cacheDir, `open-webui-${openWebUIVersion}`)
  const cached = join(dir, "task-templates.json")
  if (!existsSync(cached)) {
    mkdirSync(dir, { recursive: true })
    const wheelOf = () => readdirSync(dir).find((name) => name.startsWith("open_webui-") && name.endsWith(".whl"))
    if (wheelOf() === undefined) {
      execFileSync("python3", ["-m", "pip", "download", `open-webui==${openWebUIVersion}`, "--no-deps", "--quiet", "-d", dir], {
        stdio: ["ignore", "ignore", "inherit"],
        timeout: 300_000
      })
    }
    const wheel = wheelOf()
    if (wheel === undefined) throw new Error(`pip did not download open-webui ${openWebUIVersion} into ${dir}`)
    writeFileSync(cached, execFileSync("python3", [script, join(dir, wheel)], { encoding: "utf8" }))
  }
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
