#!/usr/bin/env node
/**
 * Entry point. Exit codes: 0 success, 1 a Letta, HTTP or check failure (one line on stderr, no stack trace), 2 a usage
 * or configuration error, 130 after Ctrl-C (the upstream call is aborted first, by interruption). Logs go to stderr,
 * structured (logfmt) unless stderr is a terminal.
 */
import { ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { EnvConfig } from "@letta-pipeline/core"
import { Cause, ConfigError, Console, Data, Effect, Exit, Logger, Option } from "effect"
import { run } from "./Cli.js"
import * as Display from "./Display.js"

class ExitCode extends Data.TaggedError("ExitCode")<{ readonly code: number }> {}

let interruptedByUser = false
process.once("SIGINT", () => {
  interruptedByUser = true
})

const logger = Logger.replace(
  Logger.defaultLogger,
  Logger.withConsoleError(process.stderr.isTTY === true ? Logger.prettyLogger() : Logger.logfmtLogger)
)

const ansi = /\x1b\[[0-9;]*m/g
const plain = (args: ReadonlyArray<unknown>) => args.map((arg) => (typeof arg === "string" ? arg.replace(ansi, "") : arg))

/** @effect/cli colours its help and errors unconditionally: without colours, the console strips them. */
const withColourPolicy = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Display.detect, (display) =>
    display.color ? effect : Effect.flatMap(Effect.console, (console) =>
      Effect.withConsole(effect, {
        ...console,
        log: (...args: ReadonlyArray<unknown>) => console.log(...plain(args)),
        error: (...args: ReadonlyArray<unknown>) => console.error(...plain(args))
      })))

const oneLine = (error: unknown): string => {
  if (ConfigError.isConfigError(error)) return `Configuration error: ${EnvConfig.describe(error)}`
  return error instanceof Error ? error.message : String(error)
}

run(process.argv).pipe(
  withColourPolicy,
  Effect.catchAll((error) =>
    ValidationError.isValidationError(error)
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
