/**
 * What the emulator has seen, for tests and benchmarks (`GET /_emulator/stats`).
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Ref } from "effect"

/** @category models */
export interface Snapshot {
  /** Streams open right now. */
  readonly active_streams: number
  /** Streams ever opened. */
  readonly total_streams: number
  /** Streams that ran to their end. */
  readonly completed_streams: number
  /** Streams the client closed before their end. */
  readonly client_closed_streams: number
  /** Requests per route template, e.g. `POST /v1/agents/{agent_id}/messages/stream`. */
  readonly requests_by_route: Readonly<Record<string, number>>
}

/** How a stream ended. @category models */
export type StreamEnd = "completed" | "client_closed" | "fault"

/** @category models */
export interface Service {
  readonly request: (route: string) => Effect.Effect<void>
  readonly streamOpened: Effect.Effect<void>
  readonly streamClosed: (end: StreamEnd) => Effect.Effect<void>
  readonly snapshot: Effect.Effect<Snapshot>
}

/** @category services */
export class Stats extends Context.Tag("@letta-pipeline/emulator/Stats")<Stats, Service>() {}

const empty: Snapshot = {
  active_streams: 0,
  total_streams: 0,
  completed_streams: 0,
  client_closed_streams: 0,
  requests_by_route: {}
}

/** @category constructors */
export const make: Effect.Effect<Service> = Effect.map(Ref.make(empty), (state) =>
  Stats.of({
    request: (route) =>
      Ref.update(state, (s) => ({
        ...s,
        requests_by_route: { ...s.requests_by_route, [route]: (s.requests_by_route[route] ?? 0) + 1 }
      })),
    streamOpened: Ref.update(state, (s) => ({
      ...s,
      active_streams: s.active_streams + 1,
      total_streams: s.total_streams + 1
    })),
    streamClosed: (end) =>
      Ref.update(state, (s) => ({
        ...s,
        active_streams: s.active_streams - 1,
        completed_streams: s.completed_streams + (end === "completed" ? 1 : 0),
        client_closed_streams: s.client_closed_streams + (end === "client_closed" ? 1 : 0)
      })),
    snapshot: Ref.get(state)
  }))

/** @category layers */
export const layer: Layer.Layer<Stats> = Layer.effect(Stats, make)
