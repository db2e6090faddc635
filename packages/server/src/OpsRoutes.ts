/**
 * `GET /health` (the process is up, no key needed), `GET /ready` (Letta answers), `GET /metrics` (Prometheus).
 *
 * @since 0.1.0
 */
import { HttpServerResponse } from "@effect/platform"
import { LettaClient } from "@letta-pipeline/core"
import { Effect, Either, Layer } from "effect"
import * as Http from "./Http.js"
import * as Metrics from "./Metrics.js"

/** @category layers */
export const layer = Layer.effectDiscard(Effect.gen(function*() {
  const client = yield* LettaClient.LettaClient
  const metrics = yield* Metrics.Metrics

  const health: Http.Handler = Effect.succeed(Http.json({ status: "ok" }))

  const ready: Http.Handler = Effect.map(Effect.either(client.health), Either.match({
    onLeft: (error) => Http.json({ status: "unavailable", letta: error.message }, 503),
    onRight: (letta) => Http.json({ status: "ready", letta })
  }))

  const metricsText: Http.Handler = Effect.map(metrics.text, (text) =>
    HttpServerResponse.text(text, { contentType: metrics.contentType }))

  yield* Http.route("GET", "/health", health, { open: true })
  yield* Http.route("GET", "/ready", ready)
  yield* Http.route("GET", "/metrics", metricsText)
}))
