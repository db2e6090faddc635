#!/usr/bin/env node
/**
 * Entry point. Exit codes: 0 success, 1 a Letta, HTTP or check failure (one line on stderr, no stack trace), 2 a usage
 * or configuration error, 130 after Ctrl-C (the upstream call is aborted first, by interruption), 0 when the reader of
 * stdout goes away (the same abort, no message). Logs go to stderr, structured (logfmt) unless stderr is a terminal.
 */
import { ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { EnvConfig } from "@letta-pipeline/core"
import { Cause, ConfigError, Console, Data, Effect, Exit, Logger, Option } from "effect"
import { run, unknownOption, withoutTypeWords } from "./Cli.js"
import * as Display from "./Display.js"

class ExitCode extends Data.TaggedError("ExitCode")<{ readonly code: number }> {}

let interruptedByUser = false
let outputClosed = false
process.once("SIGINT", () => {
  if (!outputClosed) interruptedByUser = true
})
// the reader of stdout went away (`… --json | head -1`): stop as after Ctrl-C (the upstream turn is aborted), quietly
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error
  if (outputClosed) return
  outputClosed = true
  process.kill(process.pid, "SIGINT")
})

const logger = Logger.replace(
  Logger.defaultLogger,
  Logger.withConsoleError(process.stderr.isTTY === true ? Logger.prettyLogger() : Logger.logfmtLogger)
)

const ansi = /\x1b\[[0-9;]*m/g
const plain = (args: ReadonlyArray<unknown>) => args.map((arg) => (typeof arg === "string" ? arg.replace(ansi, "") : arg))

const helpText = (args: ReadonlyArray<unknown>) => args.map((arg) => (typeof arg === "string" ? withoutTypeWords(arg) : arg))

/**
 * @effect/cli colours its help and errors unconditionally: without colours, the console strips them. Its help loses
 * the type words that say nothing either way.
 */
const withColourPolicy = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Display.detect, (display) =>
    Effect.flatMap(Effect.console, (console) =>
      Effect.withConsole(effect, {
        ...console,
        log: (...args: ReadonlyArray<unknown>) => console.log(...helpText(display.color ? args : plain(args))),
        error: (...args: ReadonlyArray<unknown>) => console.error(...helpText(display.color ? args : plain(args)))
      })))

/** An option the command does not have: named, with where to look (exit 2, as @effect/cli's usage errors). */
const checkOptions = Effect.suspend(() => {
  const unknown = unknownOption(process.argv)
  return unknown === undefined ? Effect.void : Effect.zipRight(
    Console.error(
      `Unknown option ${unknown.option} for \`letta-pipeline ${unknown.command}\`: ` +
        `\`letta-pipeline ${unknown.command} --help\` lists its options (put -- before a message that starts with --)`
    ),
    Effect.fail(new ExitCode({ code: 2 }))
  )
})

const oneLine = (error: unknown): string => {
  if (ConfigError.isConfigError(error)) return `Configuration error: ${EnvConfig.describe(error)}`
  return error instanceof Error ? error.message : String(error)
}

Effect.zipRight(checkOptions, run(process.argv)).pipe(
  withColourPolicy,
  Effect.catchAll((error) =>
    error instanceof ExitCode
      ? Effect.fail(error)
      : ValidationError.isValidationError(error)
      // @effect/cli has already printed the usage problem
      ? Effect.fail(new ExitCode({ code: 2 }))
      : Effect.zipRight(
        Console.error(oneLine(error)),
        Effect.fail(new ExitCode({ code: ConfigError.isConfigError(error) ? 2 : 1 }))
      )
  ),
  Effect.provide(NodeContext.layer),
  Effect.provide(logger),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    // logs go to stderr through the logger above, never to stdout
    disablePrettyLogger: true,
    teardown: (exit, onExit) => {
      if (Exit.isSuccess(exit)) return onExit(0)
      if (Cause.isInterruptedOnly(exit.cause)) return onExit(interruptedByUser ? 130 : 0)
      const failure = Cause.failureOption(exit.cause)
      onExit(Option.match(failure, { onNone: () => 1, onSome: (e) => (e instanceof ExitCode ? e.code : 1) }))
    }
  })
)
