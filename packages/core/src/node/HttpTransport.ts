/**
 * The Node transport of core's clients: the `HttpClient` that carries Letta calls (undici with TLS verification on)
 * and the `Socket.WebSocketConstructor` of the App Server client. Extra CAs come from `LETTA_CA_FILE` and are added to
 * Node's trust store (not replacing it); skipping verification is an explicit opt-in that is logged. Both apply to
 * `https://` and `wss://` alike.
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
import { FileSystem, HttpClient, Socket } from "@effect/platform"
import { NodeFileSystem, NodeSocket } from "@effect/platform-node"
import * as Undici from "@effect/platform-node/Undici"
import { ConfigError, Effect, Layer, Option } from "effect"
import * as tls from "node:tls"
import * as WS from "ws"
import * as LettaConfig from "../LettaConfig.js"
import * as UndiciHttpClient from "./UndiciHttpClient.js"

/** Node's own CAs and `LETTA_CA_FILE`'s, or undefined (Node's alone) when it is not set. */
const trustedCas = (settings: LettaConfig.Settings) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    Option.match(settings.tls.caFile, {
      onNone: () => Effect.succeed(undefined),
      onSome: (path) =>
        fs.readFileString(path).pipe(
          Effect.map((pem) => [...tls.rootCertificates, pem]),
          Effect.mapError((error) => ConfigError.InvalidData(["LETTA_CA_FILE"], `Cannot read ${path}: ${error.message}`))
        )
    }))

const makeDispatcher = Effect.fnUntraced(function*(settings: LettaConfig.Settings) {
  const ca = yield* trustedCas(settings)
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
 * The App Server's sockets: with `LETTA_CA_FILE` or `LETTA_TLS_INSECURE`, `ws` sockets given those TLS settings (the
 * platform's constructor takes none: a `wss://` App Server behind a private CA could not be reached, and one with
 * verification "off" was still verified); otherwise `NodeSocket.layerWebSocketConstructor` (the global `WebSocket`,
 * else `ws`).
 *
 * Fails with a `ConfigError` naming `LETTA_CA_FILE` when that file cannot be read.
 *
 * @category layers
 */
export const layerWebSocketConstructor = (
  settings: LettaConfig.Settings
): Layer.Layer<Socket.WebSocketConstructor, ConfigError.ConfigError> =>
  Option.isNone(settings.tls.caFile) && !settings.tls.insecure
    ? NodeSocket.layerWebSocketConstructor
    : Layer.effect(
      Socket.WebSocketConstructor,
      Effect.map(trustedCas(settings), (ca) => {
        const options = { rejectUnauthorized: !settings.tls.insecure, ...(ca === undefined ? {} : { ca }) }
        // the App Server session passes `{ headers }` where the protocols go (`internal/appServerSession.ts`), which
        // `ws` takes as its options
        return (url: string, protocols?: string | Array<string> | Readonly<Record<string, unknown>>) =>
          (typeof protocols === "object" && !Array.isArray(protocols)
            ? new WS.WebSocket(url, { ...protocols, ...options })
            : new WS.WebSocket(url, protocols, options)) as unknown as globalThis.WebSocket
      })
    ).pipe(Layer.provide(NodeFileSystem.layer))

/**
 * Everything core's clients take from the context on Node: {@link layerHttpClient} for the REST API and
 * {@link layerWebSocketConstructor} for the App Server.
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
  Layer.merge(layerHttpClient(settings), layerWebSocketConstructor(settings))

/**
 * {@link layer} with the settings of the environment (`LettaConfig.config`: `LETTA_CA_FILE`, `LETTA_TLS_INSECURE`,
 * `LETTA_BASE_URL` for the warning).
 *
 * @category layers
 */
export const layerConfig: Layer.Layer<HttpClient.HttpClient | Socket.WebSocketConstructor, ConfigError.ConfigError> =
  Layer.unwrapEffect(Effect.map(LettaConfig.config, layer))
