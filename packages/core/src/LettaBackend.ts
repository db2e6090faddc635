/**
 * The `LettaClient` for the configured backend: the REST API (`LETTA_BACKEND=rest`, Letta Cloud and classic servers)
 * or the App Server's WebSocket protocol (`LETTA_BACKEND=app-server`, a `ws://` URL).
 *
 * The REST layers also provide `LettaRuns` (background runs, `LETTA_MODE=poll`); the App Server's do not, so a
 * pipeline that needs runs over it fails when its layer is built. The App Server's sockets come from the
 * `Socket.WebSocketConstructor` of whoever builds the layer (`NodeSocket.layerWebSocketConstructor` on Node), which is
 * why it is in `R` for both backends.
 *
 * @since 0.1.0
 */
import type { Socket } from "@effect/platform"
import { type ConfigError, Effect, Layer } from "effect"
import * as AppServerClient from "./AppServerClient.js"
import * as LettaClient from "./LettaClient.js"
import * as LettaConfig from "./LettaConfig.js"

/**
 * The client of these settings' backend, with the settings (and `LettaRuns` for REST).
 *
 * @category layers
 */
export const layerSettings = (
  settings: LettaConfig.Settings
): Layer.Layer<
  LettaClient.LettaClient | LettaConfig.LettaConfig,
  ConfigError.ConfigError,
  Socket.WebSocketConstructor
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
  Socket.WebSocketConstructor
> = Layer.unwrapEffect(Effect.map(LettaConfig.config, layerSettings))
