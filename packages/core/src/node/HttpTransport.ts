/**
 * The Node transport of core's clients: the `HttpClient` that carries Letta calls (undici with TLS verification on)
 * and the `Socket.WebSocketConstructor` of the App Server client. Extra CAs come from `LETTA_CA_FILE` and are added to
 * Node's trust store (not replacing it); skipping verification is an explicit opt-in that is logged.
 *
 * Core itself takes both from the context, so it runs wherever `@effect/platform` does; this module (in
 * `@letta-pipeline/core/node`, needing the optional peer `@effect/platform-node`) is the wiring for Node.
 *
 * @example
 * ```ts
 * import { Pipeline } from "@letta-pipeline/core"
 * import { HttpTransport } from "@letta-pipeline/core/node"
 * import { Layer } from "effect"
 *
 * // the pipeline from the environment (LETTA_BASE_URL, LETTA_AGENT_ID, …) over Node's TLS-aware transport
 * export const PipelineLive: Layer.Layer<Pipeline.Pipeline, unknown> = Pipeline.layerConfig.pipe(
 *   Layer.provide(HttpTransport.layerConfig)
 * )
 * ```
 *
 * @since 0.1.0
 */
import { FileSystem, HttpClient, type Socket } from "@effect/platform"
import { NodeFileSystem, NodeSocket } from "@effect/platform-node"
import * as Undici from "@effect/platform-node/Undici"
import { ConfigError, Effect, Layer, Option } from "effect"
import * as tls from "node:tls"
import * as LettaConfig from "../LettaConfig.js"
import * as UndiciHttpClient from "./UndiciHttpClient.js"

const makeDispatcher = Effect.fnUntraced(function*(settings: LettaConfig.Settings) {
  const fs = yield* FileSystem.FileSystem
  const ca = yield* Option.match(settings.tls.caFile, {
    onNone: () => Effect.succeed(undefined),
    onSome: (path) =>
      fs.readFileString(path).pipe(
        Effect.map((pem) => [...tls.rootCertificates, pem]),
        Effect.mapError((error) => ConfigError.InvalidData(["LETTA_CA_FILE"], `Cannot read ${path}: ${error.message}`))
      )
  })
  if (settings.tls.insecure) {
    yield* Effect.logWarning(
      `TLS certificate verification is OFF for ${settings.baseUrl} (LETTA_TLS_INSECURE=true); ` +
        "anyone on the network path can read and change the traffic"
    )
  }
  return yield* Effect.acquireRelease(
    Effect.sync(() =>
      new Undici.Agent({
        connect: { rejectUnauthorized: !settings.tls.insecure, ...(ca === undefined ? {} : { ca }) }
      })
    ),
    (agent) => Effect.promise(() => agent.destroy())
  )
})

/**
 * An undici-backed `HttpClient` (`UndiciHttpClient.make`) honouring the TLS settings; its dispatcher is closed with the
 * layer.
 *
 * Fails with a `ConfigError` naming `LETTA_CA_FILE` when that file cannot be read.
 *
 * @category layers
 */
export const layerHttpClient = (
  settings: LettaConfig.Settings
): Layer.Layer<HttpClient.HttpClient, ConfigError.ConfigError> =>
  Layer.scoped(HttpClient.HttpClient, Effect.map(makeDispatcher(settings), UndiciHttpClient.make)).pipe(
    Layer.provide(NodeFileSystem.layer)
  )

/**
 * Everything core's clients take from the context on Node: {@link layerHttpClient} for the REST API and
 * `NodeSocket.layerWebSocketConstructor` (the global `WebSocket`, else `ws`) for the App Server.
 *
 * @example
 * ```ts
 * import { LettaBackend, LettaConfig } from "@letta-pipeline/core"
 * import { HttpTransport } from "@letta-pipeline/core/node"
 * import { Layer, Option } from "effect"
 *
 * // a Letta behind a private CA: the CA is trusted in addition to Node's own
 * const settings = LettaConfig.make({
 *   baseUrl: "https://letta.example.com",
 *   tls: { caFile: Option.some("/etc/ssl/corp-ca.pem") }
 * })
 * export const ClientLive = LettaBackend.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings)))
 * ```
 *
 * @category layers
 */
export const layer = (
  settings: LettaConfig.Settings
): Layer.Layer<HttpClient.HttpClient | Socket.WebSocketConstructor, ConfigError.ConfigError> =>
  Layer.merge(layerHttpClient(settings), NodeSocket.layerWebSocketConstructor)

/**
 * {@link layer} with the settings of the environment (`LettaConfig.config`: `LETTA_CA_FILE`, `LETTA_TLS_INSECURE`,
 * `LETTA_BASE_URL` for the warning).
 *
 * @category layers
 */
export const layerConfig: Layer.Layer<HttpClient.HttpClient | Socket.WebSocketConstructor, ConfigError.ConfigError> =
  Layer.unwrapEffect(Effect.map(LettaConfig.config, layer))
