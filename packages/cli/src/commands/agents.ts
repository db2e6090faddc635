/**
 * `letta-pipeline agents`: the agents on the configured Letta, as a table or as JSON.
 */
import { Command, Options } from "@effect/cli"
import { LettaBackend, LettaClient, LettaSchema } from "@letta-pipeline/core"
import { HttpTransport } from "@letta-pipeline/core/node"
import { Effect, Layer, Logger, LogLevel, Option, Schema } from "effect"
import * as Display from "../Display.js"
import * as Connection from "./connection.js"

const encodeAgents = Schema.encodeSync(Schema.parseJson(LettaSchema.AgentList, { space: 2 }))

export const agents = Command.make("agents", {
  baseUrl: Connection.flags.baseUrl,
  apiKey: Connection.flags.apiKey,
  password: Connection.flags.password,
  json: Options.boolean("json").pipe(Options.withDescription("Print the agents as JSON"))
}, (given) =>
  Effect.gen(function*() {
    const { settings } = yield* Connection.connect({ ...given, agent: Option.none() }, "ignore")
    const all = yield* Effect.flatMap(LettaClient.LettaClient, (client) => client.listAgents()).pipe(
      Effect.provide(LettaBackend.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings))))
    )
    if (given.json) return yield* Display.stdout(`${encodeAgents(all)}\n`)
    if (all.length === 0) return yield* Display.stdout("No agents.\n")
    yield* Display.stdout(Display.table([
      ["ID", "NAME", "TAGS", "DESCRIPTION"],
      ...all.map((agent) => [
        agent.id,
        agent.name,
        (agent.tags ?? []).join(","),
        Display.oneLine(agent.description ?? "", 60)
      ])
    ]))
  }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))).pipe(
    Command.withDescription("List the agents of the configured Letta (or of the built-in emulator): id, name, tags")
  )
