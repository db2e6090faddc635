/**
 * `letta-pipeline serve`: the HTTP server over the configured Letta, or, when `LETTA_BASE_URL` is not set, over an
 * emulated Letta in this process with a demo agent.
 */
import { Command } from "@effect/cli"
import { LettaConfig, Pipeline } from "@letta-pipeline/core"
import { Emulator } from "@letta-pipeline/emulator"
import { Server } from "@letta-pipeline/server"
import { Config, Duration, Effect, Layer, Option } from "effect"
import { host, port } from "./options.js"

/** The pipeline over an in-process emulator; settings other than the URL still come from the environment. */
const embeddedPipeline = Layer.unwrapEffect(Effect.gen(function*() {
  const emulator = yield* Emulator.Emulator
  const fromEnv = yield* LettaConfig.config
  const settings: LettaConfig.Settings = {
    ...fromEnv,
    baseUrl: emulator.url,
    agentId: Option.orElse(fromEnv.agentId, () => Option.some(emulator.demoAgent.id))
  }
  yield* Effect.logInfo(
    `LETTA_BASE_URL is not set: using the built-in Letta emulator at ${emulator.url} ` +
      `with its demo agent ${emulator.demoAgent.id} (${emulator.demoAgent.name}). Set LETTA_BASE_URL to use your Letta.`
  )
  return Pipeline.layerSettings(settings)
})).pipe(Layer.provide(Emulator.layer({ tokenDelay: Duration.millis(15) })))

const pipeline = Layer.unwrapEffect(
  Effect.map(
    Config.option(Config.string("LETTA_BASE_URL")),
    Option.match({ onNone: () => embeddedPipeline, onSome: () => Pipeline.layerConfig })
  )
)

export const serve = Command.make("serve", { port: port(3000), host }, (options) =>
  Layer.launch(Server.layer(options).pipe(Layer.provide(pipeline)))).pipe(Command.withDescription("Serve the pipeline over HTTP (an emulated Letta when LETTA_BASE_URL is unset)"))
