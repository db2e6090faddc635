/**
 * The code examples of core's documentation: the ```ts blocks of the package README and of the `@example` tags of the
 * sources' JSDoc, each with where it comes from (file and line of its first code line), for the tests that compile them.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const coreDir = fileURLToPath(new URL("../..", import.meta.url))
export const readmePath = path.join(coreDir, "README.md")

export interface Example {
  /** Absolute path of the file it was found in. */
  readonly file: string
  /** 1-based line, in that file, of the example's first code line. */
  readonly line: number
  readonly code: string
}

const fence = /^```(\w*)\s*$/

/** The fenced blocks of `lines` in `language` (a fence's own line is not code). */
const fencedBlocks = (
  file: string,
  lines: ReadonlyArray<string>,
  language: string,
  strip: (line: string) => string = (line) => line
): Array<Example> => {
  const found: Array<Example> = []
  let open: { readonly language: string; readonly start: number; readonly code: Array<string> } | undefined
  lines.forEach((raw, index) => {
    const line = strip(raw)
    const match = fence.exec(line.trim())
    if (open === undefined) {
      if (match !== null) open = { language: match[1] ?? "", start: index + 2, code: [] }
    } else if (match !== null && match[1] === "") {
      if (open.language === language) found.push({ file, line: open.start, code: open.code.join("\n") + "\n" })
      open = undefined
    } else {
      open.code.push(line)
    }
  })
  return found
}

/** The ```ts blocks of the README, in order. */
export const readmeExamples = (): Array<Example> =>
  fencedBlocks(readmePath, fs.readFileSync(readmePath, "utf8").split("\n"), "ts")

/** Every `.ts` file under `dir`. */
const sources = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    return entry.isDirectory() ? sources(full) : entry.name.endsWith(".ts") ? [full] : []
  })

/** The JSDoc line's text without its leading ` * `. */
const jsdocText = (line: string): string => line.replace(/^\s*\*( |$)/, "")

/**
 * The ```ts blocks of every `@example` tag in `src/**\/*.ts` (an example runs from its tag to the next tag or the end
 * of its comment).
 */
export const docstringExamples = (): Array<Example> =>
  sources(path.join(coreDir, "src")).sort().flatMap((file) => {
    const lines = fs.readFileSync(file, "utf8").split("\n")
    const found: Array<Example> = []
    lines.forEach((line, index) => {
      if (!/^\s*\*\s*@example\b/.test(line)) return
      let end = index + 1
      while (end < lines.length && !/^\s*\*\s*@\w+/.test(lines[end] ?? "") && !/\*\//.test(lines[end] ?? "")) end++
      const body = lines.slice(index + 1, end)
      for (const block of fencedBlocks(file, body, "ts", jsdocText)) {
        found.push({ ...block, line: block.line + index + 1 })
      }
    })
    return found
  })
