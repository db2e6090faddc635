/**
 * Request and stream metrics, exposed at `/metrics` in Prometheus' text format (through `prom-client`, with Node's
 * process metrics). One registry per server.
 *
 * @since 0.1.0
 */
import { Context, Effect, Exit, Layer, Stream } from "effect"
import * as Prometheus from "prom-client"

/** How a stream ended. @category models */
export type StreamEnd = "completed" | "client_closed" | "error"

/** @category models */
export interface Service {
  readonly request: (route: string, method: string, status: number) => Effect.Effect<void>
  /** Counts a response stream of `surface` while it is open, and how it ended. */
  readonly track: (surface: string) => <A, E, R>(stream: Stream.Stream<A, E, R>) => Stream.Stream<A, E, R>
  /** `track` for a response written by an effect (`SseResponse`): open while it runs. */
  readonly trackEffect: (surface: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Counts a user's own agent made from a template: on the user's first message, to replace one gone from Letta, or on a reset. */
  readonly userAgentCreated: (reason: "first" | "replaced" | "reset") => Effect.Effect<void>
  readonly activeStreams: Effect.Effect<number>
  readonly text: Effect.Effect<string>
  readonly contentType: string
}

/** @category services */
export class Metrics extends Context.Tag("@letta-pipeline/server/Metrics")<Metrics, Service>() {}

/**
 * How often Node's event-loop lag is sampled for `letta_pipeline_nodejs_eventloop_lag_*`, in milliseconds.
 *
 * @category constants
 */
export const eventLoopSampleMillis = 100

/** @category layers */
export const layer: Layer.Layer<Metrics> = Layer.sync(Metrics, () => {
  const registry = new Prometheus.Registry()
  Prometheus.collectDefaultMetrics({
    register: registry,
    prefix: "letta_pipeline_",
    // the event-loop lag histogram samples with a timer: prom-client's 10 ms woke an idle server about 100 times a second
    // (0.7 % of a core doing nothing); every sample still measures the whole delay, and a scrape every 15 s gets 150
    eventLoopMonitoringPrecision: eventLoopSampleMillis
  })
  const requests = new Prometheus.Counter({
    name: "letta_pipeline_http_requests_total",
    help: "HTTP requests by route, method and status",
    labelNames: ["route", "method", "status"],
    registers: [registry]
  })
  const active = new Prometheus.Gauge({
    name: "letta_pipeline_streams_active",
    help: "Response streams open now",
    labelNames: ["surface"],
    registers: [registry]
  })
  const streams = new Prometheus.Counter({
    name: "letta_pipeline_streams_total",
    help: "Response streams by surface and how they ended",
    labelNames: ["surface", "end"],
    registers: [registry]
  })
  const durations = new Prometheus.Histogram({
    name: "letta_pipeline_stream_duration_seconds",
    help: "How long response streams stayed open",
    labelNames: ["surface"],
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [registry]
  })
  const userAgents = new Prometheus.Counter({
    name: "letta_pipeline_user_agents_created_total",
    help: "Users' own agents created from a template (per-user models), by reason: first, replaced, reset",
    labelNames: ["reason"],
    registers: [registry]
  })
  let open = 0
  /** Counts a stream as open; the function given back counts it closed, by how it ended. */
  const opened = (surface: string) => {
    open++
    active.inc({ surface })
    const stop = durations.startTimer({ surface })
    return (exit: Exit.Exit<unknown, unknown>) =>
      Effect.sync(() => {
        open--
        active.dec({ surface })
        stop()
        const end: StreamEnd = Exit.isSuccess(exit) ? "completed" : Exit.isInterrupted(exit) ? "client_closed" : "error"
        streams.inc({ surface, end })
      })
  }

  return Metrics.of({
    request: (route, method, status) => Effect.sync(() => requests.inc({ route, method, status: String(status) })),
    // a fold at the stream's end, not a stage per element (`acquireRelease` then `flatMap` costs one)
    track: (surface) => (stream) => Stream.suspend(() => Stream.ensuringWith(stream, opened(surface))),
    trackEffect: (surface) => (effect) => Effect.suspend(() => Effect.onExit(effect, opened(surface))),
    userAgentCreated: (reason) => Effect.sync(() => userAgents.inc({ reason })),
    activeStreams: Effect.sync(() => open),
    text: Effect.promise(() => registry.metrics()),
    contentType: registry.contentType
  })
})
