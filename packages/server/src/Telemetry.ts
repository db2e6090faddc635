/**
 * Traces over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (spans of every request, of each Letta call inside
 * it, of the pipeline), through `@effect/opentelemetry`. Otherwise spans are not made at all, and the HTTP server does
 * not read requests' URLs and headers for them: with nothing to export them to they would only cost CPU and memory
 * (the HTTP server's and client's spans, with their attributes, are ~1.7 KiB per open stream).
 *
 * @since 0.1.0
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { HttpMiddleware } from "@effect/platform"
import { Effect, FiberRef, Function, Layer, Option } from "effect"
import * as ServerConfig from "./ServerConfig.js"

/** @category layers */
export const layer: Layer.Layer<never, never, ServerConfig.ServerConfig> = Layer.unwrapEffect(
  Effect.map(ServerConfig.ServerConfig, (settings) =>
    Option.match(settings.otlpEndpoint, {
      onNone: () =>
        // one effect, not two merged layers: the refs of a merged layer are set in a fiber of its own
        Layer.scopedDiscard(Effect.zipRight(
          Effect.locallyScoped(FiberRef.currentTracerEnabled, false),
          // the platform's server middleware would still read each request's URL and headers for a span's attributes
          Effect.locallyScoped(HttpMiddleware.currentTracerDisabledWhen, Function.constTrue)
        )),
      onSome: (endpoint) =>
        NodeSdk.layer(() => ({
          resource: { serviceName: "letta-pipeline", serviceVersion: "0.1.0" },
          spanProcessor: new BatchSpanProcessor(
            new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, "")}/v1/traces` })
          ),
          shutdownTimeout: "5 seconds"
        })).pipe(Layer.discard)
    }))
)

/**
 * `Effect.withSpan(effect, name)` when spans are made, else `effect` as it is. With tracing disabled (this module's
 * layer without an endpoint) `Effect.withSpan` still provides a no-op span to `effect`, a copy of the fiber's context and
 * of its refs on every call: about as much memory as the rest of a request's own work (`docs/benchmarks.md`).
 *
 * @category combinators
 */
export const span = (name: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) =>
    fiber.getFiberRef(FiberRef.currentTracerEnabled) ? Effect.withSpan(effect, name) : effect
  )
