/**
 * `letta-pipeline serve`: the HTTP server over the configured Letta, or, when `LETTA_BASE_URL` is not set, over an
 * emulated Letta in this process with a demo agent.
 */
import { Command } from "@effect/cli"
import type { HttpServerError } from "@effect/platform"
import { LettaConfig, type LettaError, Pipeline } from "@letta-pipeline/core"
import { HttpTransport } from "@letta-pipeline/core/node"
import { Emulator } from "@letta-pipeline/emulator"
import { ConversationStore, Server } from "@letta-pipeline/server"
import { type ConfigError, Effect, Layer, Option } from "effect"
import * as Connection from "./connection.js"
import { host, listenOn, port } from "./options.js"

/** The pipeline over an in-process emulator; settings other than the URL still come from the environment. */
const embeddedPipeline = Layer.unwrapEffect(Effect.gen(function*() {
  const emulator = yield* Emulator.Emulator
  const fromEnv = yield* LettaConfig.config
  const settings: LettaConfig.Settings = {
    ...fromEnv,
    baseUrl: emulator.url,
    agentId: Option.orElse(fromEnv.agentId, () => Option.some(emulator.demoAgent.id))
  }
  yield* Effect.logInfo(Connection.embeddedNotice(emulator))
  return Pipeline.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings)))
})).pipe(Layer.provide(Connection.embeddedEmulator))

/** Says which store keeps the chat → conversation map. */
const announceStore = Layer.effectDiscard(Effect.flatMap(ConversationStore.ConversationStore, (store) =>
  Effect.logInfo(`Chat → conversation map: ${store.kind}`)))

/**
 * The pipeline and the conversation store: the configured Letta with the configured store, or the embedded emulator
 * with an in-memory store (the emulator forgets its conversations at exit, so a lasting map would point at nothing).
 */
const backend = Layer.unwrapEffect(
  Effect.map(
    Connection.configuredBaseUrl,
    (url): Layer.Layer<Server.Requirements, ConfigError.ConfigError | HttpServerError.ServeError | LettaError.StoreError> =>
      Option.isNone(url)
        ? Layer.merge(embeddedPipeline, ConversationStore.layerMemory)
        : Layer.merge(Pipeline.layerConfig.pipe(Layer.provide(HttpTransport.layerConfig)), ConversationStore.layerConfig)
  )
)

export const serve = Command.make("serve", { port: port(3000), host }, (options) =>
  Effect.flatMap(listenOn(options, 3000), (where) =>
    Layer.launch(Layer.merge(Server.layer(where), announceStore).pipe(Layer.provide(backend))))).pipe(Command.withDescription("Serve the pipeline over HTTP (an emulated Letta when LETTA_BASE_URL is unset)"))
