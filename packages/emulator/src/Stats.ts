/**
 * What the emulator has seen, for tests and benchmarks (`GET /_emulator/stats`), and a record of recent streams (when
 * each opened and closed, and how) for tests that time disconnects.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer, Ref } from "effect"

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

/** One stream: the user message that started it, and when (epoch milliseconds) it opened and closed. @category models */
export interface StreamRecord {
  readonly message: string
  readonly openedAt: number
  readonly closedAt: number | null
  readonly end: StreamEnd | null
}

/** @category models */
export interface Service {
  readonly request: (route: string) => Effect.Effect<void>
  /** Counts a stream as open; the returned effect closes it. */
  readonly streamOpened: (message: string) => Effect.Effect<(end: StreamEnd) => Effect.Effect<void>>
  readonly snapshot: Effect.Effect<Snapshot>
  /** The latest streams (at most {@link streamsKept}), oldest first. */
  readonly streams: Effect.Effect<ReadonlyArray<StreamRecord>>
}

/** @category services */
export class Stats extends Context.Tag("@letta-pipeline/emulator/Stats")<Stats, Service>() {}

/** How many stream records are kept. @category models */
export const streamsKept = 20_000

const empty: Snapshot = {
  active_streams: 0,
  total_streams: 0,
  completed_streams: 0,
  client_closed_streams: 0,
  requests_by_route: {}
}

/** @category constructors */
export const make: Effect.Effect<Service> = Effect.gen(function*() {
  const state = yield* Ref.make(empty)
  // mutable on purpose: one array, records updated in place when their stream closes
  const records: Array<{ message: string; openedAt: number; closedAt: number | null; end: StreamEnd | null }> = []
  return Stats.of({
    request: (route) =>
      Ref.update(state, (s) => ({
        ...s,
        requests_by_route: { ...s.requests_by_route, [route]: (s.requests_by_route[route] ?? 0) + 1 }
      })),
    streamOpened: (message) =>
      Effect.gen(function*() {
        const record = { message, openedAt: yield* Clock.currentTimeMillis, closedAt: null as number | null, end: null as StreamEnd | null }
        records.push(record)
        if (records.length > streamsKept) records.splice(0, records.length - streamsKept)
        yield* Ref.update(state, (s) => ({ ...s, active_streams: s.active_streams + 1, total_streams: s.total_streams + 1 }))
        return (end: StreamEnd) =>
          Effect.gen(function*() {
            record.closedAt = yield* Clock.currentTimeMillis
            record.end = end
            yield* Ref.update(state, (s) => ({
              ...s,
              active_streams: s.active_streams - 1,
              completed_streams: s.completed_streams + (end === "completed" ? 1 : 0),
              client_closed_streams: s.client_closed_streams + (end === "client_closed" ? 1 : 0)
            }))
          })
      }),
    snapshot: Ref.get(state),
    streams: Effect.sync(() => records.map((record) => ({ ...record })))
  })
})

/** @category layers */
export const layer: Layer.Layer<Stats> = Layer.effect(Stats, make)
