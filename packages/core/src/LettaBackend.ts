/**
 * The `LettaClient` for the configured backend: the REST API (`LETTA_BACKEND=rest`, Letta Cloud and classic servers)
 * or the App Server's WebSocket protocol (`LETTA_BACKEND=app-server`, a `ws://` URL).
 *
 * The REST layers also provide `LettaRuns` (background runs, `LETTA_MODE=poll`); the App Server's do not, so a
 * pipeline that needs runs over it fails when its layer is built. Both transports come from whoever builds the layer
 * ({@link Transport}; on Node, `HttpTransport.layer` of `@letta-pipeline/core/node`), which is why both are in `R`
 * whichever backend the settings name.
 *
 * @example
 * ```ts
 * import { LettaBackend, LettaClient, LettaConfig } from "@letta-pipeline/core"
 * import { HttpTransport } from "@letta-pipeline/core/node"
 * import { Effect, Layer } from "effect"
 *
 * // the same LettaClient, here over an App Server's WebSocket protocol
 * const settings = LettaConfig.make({ baseUrl: "ws://127.0.0.1:4500", backend: "app-server" })
 * export const agentNames = Effect.flatMap(LettaClient.LettaClient, (client) => client.listAgents()).pipe(
 *   Effect.map((agents) => agents.map((agent) => agent.name)),
 *   Effect.provide(LettaBackend.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings))))
 * )
 * ```
 *
 * @since 0.1.0
 */
import type { HttpClient, Socket } from "@effect/platform"
import { type ConfigError, Effect, Layer } from "effect"
import * as AppServerClient from "./AppServerClient.js"
import * as LettaClient from "./LettaClient.js"
import * as LettaConfig from "./LettaConfig.js"

/**
 * What the backends take from the context: an `HttpClient` (REST) and a `Socket.WebSocketConstructor` (App Server); on
 * Node both come from `HttpTransport.layer` of `@letta-pipeline/core/node`.
 *
 * @category models
 */
export type Transport = HttpClient.HttpClient | Socket.WebSocketConstructor

/**
 * The client of these settings' backend, with the settings (and, for REST, `LettaRuns` and `LettaIdentities`, which
 * the layer's type does not name: ask for them with `Effect.serviceOption`).
 *
 * @category layers
 */
export const layerSettings = (
  settings: LettaConfig.Settings
): Layer.Layer<
  LettaClient.LettaClient | LettaConfig.LettaConfig,
  ConfigError.ConfigError,
  Transport
> =>
  settings.backend === "app-server"
    ? AppServerClient.layer.pipe(Layer.provideMerge(Layer.succeed(LettaConfig.LettaConfig, settings)))
    : LettaClient.layerSettings(settings)

/**
 * The client and settings from the environment.
 *
 * @category layers
 */
export const layerConfig: Layer.Layer<
  LettaClient.LettaClient | LettaConfig.LettaConfig,
  ConfigError.ConfigError,
  Transport
> = Layer.unwrapEffect(Effect.map(LettaConfig.config, layerSettings))
