#!/usr/bin/env node
/**
 * Entry point: runs the command line, prints a failure as one line and exits 1.
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { run } from "./Cli.js"

run(process.argv).pipe(
  Effect.tapError((error) => Console.error(error instanceof Error ? error.message : String(error))),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
