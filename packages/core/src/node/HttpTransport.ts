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

/** How Letta's certificates are checked: Node's own CAs plus `LETTA_CA_FILE`'s (when set), or not at all. */
interface TlsOptions {
  readonly rejectUnauthorized: boolean
  readonly ca?: Array<string>
}

/** The settings' {@link TlsOptions}, reading `LETTA_CA_FILE` once. */
const tlsOptions = (settings: LettaConfig.Settings): Effect.Effect<TlsOptions, ConfigError.ConfigError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    Option.match(settings.tls.caFile, {
      onNone: () => Effect.succeed({ rejectUnauthorized: !settings.tls.insecure }),
      onSome: (path) =>
        fs.readFileString(path).pipe(
          Effect.map((pem) => ({ rejectUnauthorized: !settings.tls.insecure, ca: [...tls.rootCertificates, pem] })),
          Effect.mapError((error) => ConfigError.InvalidData(["LETTA_CA_FILE"], `Cannot read ${path}: ${error.message}`))
        )
    }))

/** Layers made from the settings' {@link TlsOptions}, the CA file read once for all of them. */
const withTls = <A>(settings: LettaConfig.Settings, make: (options: TlsOptions) => Layer.Layer<A>) =>
  Layer.unwrapEffect(Effect.map(tlsOptions(settings), make)).pipe(Layer.provide(NodeFileSystem.layer))

const httpClientWith = (settings: LettaConfig.Settings, options: TlsOptions): Layer.Layer<HttpClient.HttpClient> =>
  Layer.scoped(
    HttpClient.HttpClient,
    Effect.gen(function*() {
      if (settings.tls.insecure) {
        yield* Effect.logWarning(
          `TLS certificate verification is OFF for ${settings.baseUrl} (LETTA_TLS_INSECURE=true); ` +
            "anyone on the network path can read and change the traffic"
        )
      }
      const dispatcher = yield* Effect.acquireRelease(
        Effect.sync(() => new Undici.Agent({ connect: options })),
        (agent) => Effect.promise(() => agent.destroy())
      )
      return UndiciHttpClient.make(dispatcher)
    })
  )

const socketsWith = (options: TlsOptions): Layer.Layer<Socket.WebSocketConstructor> =>
  options.ca === undefined && options.rejectUnauthorized
    ? NodeSocket.layerWebSocketConstructor
    : Layer.succeed(
      Socket.WebSocketConstructor,
      // the App Server session passes `{ headers }` where the protocols go (`internal/appServerSession.ts`), which `ws`
      // takes as its options
      (url: string, protocols?: string | Array<string> | Readonly<Record<string, unknown>>) =>
        (typeof protocols === "object" && !Array.isArray(protocols)
          ? new WS.WebSocket(url, { ...protocols, ...options })
          : new WS.WebSocket(url, protocols, options)) as unknown as globalThis.WebSocket
    )

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
  withTls(settings, (options) => httpClientWith(settings, options))

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
  withTls(settings, socketsWith)

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
  withTls(settings, (options) => Layer.merge(httpClientWith(settings, options), socketsWith(options)))

/**
 * {@link layer} with the settings of the environment (`LettaConfig.config`: `LETTA_CA_FILE`, `LETTA_TLS_INSECURE`,
 * `LETTA_BASE_URL` for the warning).
 *
 * @category layers
 */
export const layerConfig: Layer.Layer<HttpClient.HttpClient | Socket.WebSocketConstructor, ConfigError.ConfigError> =
  Layer.unwrapEffect(Effect.map(LettaConfig.config, layer))
