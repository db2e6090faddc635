/**
 * `GET /health` (the process is up, no key needed), `GET /ready` (Letta answers and accepts the credentials),
 * `GET /metrics` (Prometheus).
 *
 * @since 0.1.0
 */
import { HttpLayerRouter, HttpServerResponse } from "@effect/platform"
import { LettaCheck, LettaClient, LettaConfig } from "@letta-pipeline/core"
import { Effect, Layer } from "effect"
import * as Http from "./Http.js"
import * as Metrics from "./Metrics.js"
import * as Middleware from "./Middleware.js"
import type * as ServerConfig from "./ServerConfig.js"

/** `GET /health`: whatever name the request uses, no key (`Middleware.health`). */
const health = HttpLayerRouter.add("GET", "/health", Effect.succeed(Http.json({ status: "ok" }))).pipe(
  Layer.provide(Middleware.health.layer)
)

/** `GET /ready` and `GET /metrics`, behind the key (`Middleware.api`). */
const guarded = HttpLayerRouter.addAll(Effect.gen(function*() {
  const client = yield* LettaClient.LettaClient
  const settings = yield* LettaConfig.LettaConfig
  const metrics = yield* Metrics.Metrics

  // asked anew each time: credentials Letta refused at start may be accepted later (a key re-issued, Letta restarted)
  const ready: Http.Handler = LettaCheck.ready.pipe(
    Effect.match({
      onFailure: (failure) => Http.json({ status: "unavailable", letta: failure.message, fix: failure.fix }, 503),
      onSuccess: (letta) => Http.json({ status: "ready", letta })
    }),
    Effect.provideService(LettaClient.LettaClient, client),
    Effect.provideService(LettaConfig.LettaConfig, settings)
  )

  const metricsText: Http.Handler = Effect.map(metrics.text, (text) =>
    HttpServerResponse.text(text, { contentType: metrics.contentType }))

  return [HttpLayerRouter.route("GET", "/ready", ready), HttpLayerRouter.route("GET", "/metrics", metricsText)]
})).pipe(Layer.provide(Middleware.api.layer))

/** @category layers */
export const layer: Layer.Layer<
  never,
  never,
  HttpLayerRouter.HttpRouter | LettaClient.LettaClient | LettaConfig.LettaConfig | Metrics.Metrics | ServerConfig.ServerConfig
> = Layer.merge(health, guarded)
