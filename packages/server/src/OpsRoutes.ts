/**
 * `GET /health` (the process is up, no key needed), `GET /ready` (Letta answers and accepts the credentials),
 * `GET /metrics` (Prometheus).
 *
 * @since 0.1.0
 */
import { HttpServerResponse } from "@effect/platform"
import { LettaCheck, LettaClient, LettaConfig } from "@letta-pipeline/core"
import { Effect, Either, Layer } from "effect"
import * as Http from "./Http.js"
import * as Metrics from "./Metrics.js"

/** @category layers */
export const layer = Layer.effectDiscard(Effect.gen(function*() {
  const client = yield* LettaClient.LettaClient
  const settings = yield* LettaConfig.LettaConfig
  const metrics = yield* Metrics.Metrics

  const health: Http.Handler = Effect.succeed(Http.json({ status: "ok" }))

  // asked anew each time: credentials Letta refused at start may be accepted later (a key re-issued, Letta restarted)
  const ready: Http.Handler = LettaCheck.ready.pipe(
    Effect.either,
    Effect.map(Either.match({
      onLeft: (failure) => Http.json({ status: "unavailable", letta: failure.message, fix: failure.fix }, 503),
      onRight: (letta) => Http.json({ status: "ready", letta })
    })),
    Effect.provideService(LettaClient.LettaClient, client),
    Effect.provideService(LettaConfig.LettaConfig, settings)
  )

  const metricsText: Http.Handler = Effect.map(metrics.text, (text) =>
    HttpServerResponse.text(text, { contentType: metrics.contentType }))

  yield* Http.route("GET", "/health", health, { open: true })
  yield* Http.route("GET", "/ready", ready)
  yield* Http.route("GET", "/metrics", metricsText)
}))
