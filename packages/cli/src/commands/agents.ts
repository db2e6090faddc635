/**
 * `letta-pipeline agents`: the agents on the configured Letta.
 */
import { Command } from "@effect/cli"
import { LettaClient } from "@letta-pipeline/core"
import { Console, Effect } from "effect"

export const agents = Command.make("agents", {}, () =>
  Effect.gen(function*() {
    const client = yield* LettaClient.LettaClient
    const all = yield* client.listAgents()
    if (all.length === 0) return yield* Console.log("No agents.")
    const width = Math.max(...all.map((agent) => agent.id.length))
    for (const agent of all) yield* Console.log(`${agent.id.padEnd(width)}  ${agent.name}`)
  }).pipe(Effect.provide(LettaClient.layerConfig))).pipe(Command.withDescription("List the agents"))
