#!/usr/bin/env node
/**
 * Entry point: runs the command line, prints a failure as one line and exits 1. Logs are structured (logfmt) unless
 * stdout is a terminal.
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Logger } from "effect"
import { run } from "./Cli.js"

const logger = Logger.replace(Logger.defaultLogger, process.stdout.isTTY ? Logger.prettyLogger() : Logger.logfmtLogger)

run(process.argv).pipe(
  Effect.tapError((error) => Console.error(error instanceof Error ? error.message : String(error))),
  Effect.provide(NodeContext.layer),
  Effect.provide(logger),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
