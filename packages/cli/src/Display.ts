/**
 * What the terminal can show: colours and spinners only on a terminal and without `NO_COLOR`. Data goes to stdout,
 * everything else (spinner, logs, diagnostics) to stderr.
 *
 * @since 0.1.0
 */
import { Config, Effect, Option } from "effect"

/** @category models */
export interface Display {
  /** stdout is a terminal. */
  readonly stdoutTty: boolean
  /** stderr is a terminal. */
  readonly stderrTty: boolean
  /** Colours and spinners allowed. */
  readonly color: boolean
}

/** @category constructors */
export const detect: Effect.Effect<Display> = Effect.map(
  Config.option(Config.string("NO_COLOR")).pipe(Effect.orElseSucceed(() => Option.none<string>())),
  (noColor) => {
    const stdoutTty = process.stdout.isTTY === true
    const stderrTty = process.stderr.isTTY === true
    return { stdoutTty, stderrTty, color: stdoutTty && Option.isNone(noColor) }
  }
)

/** @category constructors */
export const stdout = (text: string): Effect.Effect<void> => Effect.sync(() => void process.stdout.write(text))
/** @category constructors */
export const stderr = (text: string): Effect.Effect<void> => Effect.sync(() => void process.stderr.write(text))

/** Dimmed text when colours are on. @category constructors */
export const dim = (display: Display, text: string): string => (display.color ? `\x1b[2m${text}\x1b[22m` : text)

/** One line, at most `max` characters. @category constructors */
export const oneLine = (text: string, max = 160): string => {
  const flat = text.replace(/\s+/g, " ").trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

/** Rows as columns aligned by spaces, the last column unpadded; the first row is the header. @category constructors */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? []
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ").trimEnd())
    .join("\n") + "\n"
}
