/**
 * The `HttpClient` that carries Letta calls: undici with TLS verification on. Extra CAs come from `LETTA_CA_FILE` and
 * are added to Node's trust store (not replacing it); skipping verification is an explicit opt-in that is logged.
 *
 * @since 0.1.0
 */
import { FileSystem, type HttpClient } from "@effect/platform"
import { NodeFileSystem, NodeHttpClient } from "@effect/platform-node"
import * as Undici from "@effect/platform-node/Undici"
import { ConfigError, Effect, Layer, Option } from "effect"
import * as tls from "node:tls"
import * as LettaConfig from "./LettaConfig.js"

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
 * An undici-backed `HttpClient` honouring the TLS settings.
 *
 * @category layers
 */
export const layer = (
  settings: LettaConfig.Settings
): Layer.Layer<HttpClient.HttpClient, ConfigError.ConfigError> =>
  NodeHttpClient.layerUndiciWithoutDispatcher.pipe(
    Layer.provide(Layer.scoped(NodeHttpClient.Dispatcher, makeDispatcher(settings))),
    Layer.provide(NodeFileSystem.layer)
  )

/**
 * {@link layer} with the settings of `LettaConfig`.
 *
 * @category layers
 */
export const layerConfig: Layer.Layer<HttpClient.HttpClient, ConfigError.ConfigError, LettaConfig.LettaConfig> = Layer
  .unwrapEffect(Effect.map(LettaConfig.LettaConfig, layer))
