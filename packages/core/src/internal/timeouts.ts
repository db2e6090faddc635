/**
 * Stream timeouts shared by the Letta clients: the wait for the first element, for each later one, and for the whole
 * turn.
 *
 * Effect's per-pull timeouts and `Stream.interruptWhen` race a fiber per element, and a watchdog fiber per stream
 * still cost a fork, a scope and a sleeping fiber per turn. Here one `Ticker` per client watches every stream it has
 * open and, for a stream past a limit, aborts its upstream (the caller says how: close the HTTP request, end the
 * socket's queue); the failure that follows becomes the timeout. A limit is therefore noticed up to one tick late (a
 * tenth of the shortest limit, at most 1 s).
 */
import { Chunk, Duration, Effect, Stream } from "effect"
import type { HttpError } from "../LettaError.js"
import * as StreamStage from "../StreamStage.js"
import * as Ticker from "../Ticker.js"
import * as Http from "./http.js"

export interface Limits {
  readonly first: Duration.Duration
  readonly idle: Duration.Duration
  readonly turn: Duration.Duration
}

interface Watched {
  /** The timeout this stream has passed by `now`, if any. */
  readonly check: (now: number) => HttpError | undefined
  readonly fire: (error: HttpError) => Effect.Effect<void>
}

export interface Watchdog {
  /**
   * Bounds the wait for the first element by `first`, every later wait by `idle` (time the consumer takes between
   * pulls is not counted) and the whole stream by `turn`. `abort` must make the pending pull end or fail soon.
   */
  readonly withTimeouts: (
    request: string,
    abort: Effect.Effect<void>
  ) => <A, E, R>(stream: Stream.Stream<A, E, R>) => Stream.Stream<A, E | HttpError, R>
  /**
   * `withTimeouts` and a stage (`makeHandlers`, made afresh for each run of the stream) in one step: the waits are
   * those for the stage's output, so that input that makes no element (bytes that complete no frame) is not activity.
   * `since` (the clock's milliseconds; the stream's start by default) is when the turn and the wait for its first
   * element began: the request, when the stream is its response's body.
   */
  readonly stage: <A, B, E, E2>(
    request: string,
    abort: Effect.Effect<void>,
    makeHandlers: () => StreamStage.Handlers<A, B, E, E2>,
    since?: number
  ) => <R>(stream: Stream.Stream<A, E, R>) => Stream.Stream<B, E2 | HttpError, R>
}

/** A watchdog for streams under these limits. Its fiber is forked by the first stream, with that stream's clock. */
export const make = (limits: Limits): Watchdog => {
  const firstMillis = Duration.toMillis(limits.first)
  const idleMillis = Duration.toMillis(limits.idle)
  const turnMillis = Duration.toMillis(limits.turn)
  const ticker = Ticker.make<Watched>(
    Duration.millis(Math.max(1, Math.min(1000, Math.min(firstMillis, idleMillis, turnMillis) / 10))),
    (stream, now, remove) => {
      const error = stream.check(now)
      if (error === undefined) return undefined
      remove(stream)
      return stream.fire(error)
    }
  )

  const stage = <A, B, E, E2>(
    request: string,
    abort: Effect.Effect<void>,
    makeHandlers: () => StreamStage.Handlers<A, B, E, E2>,
    since?: number
  ) =>
  <R>(stream: Stream.Stream<A, E, R>): Stream.Stream<B, E2 | HttpError, R> =>
    StreamStage.unwrap(Effect.clockWith((clock) => {
      const handlers = makeHandlers()
      const startedAt = since ?? clock.unsafeCurrentTimeMillis()
      let started = false
      let fired: HttpError | undefined
      // when the pull in progress began; undefined between pulls
      let waitingSince: number | undefined = startedAt
      const entry: Watched = {
        check: (now) => {
          if (now >= startedAt + turnMillis) return Http.timeoutError(request, "turn", limits.turn)
          if (waitingSince === undefined) return undefined
          const wait = started ? idleMillis : firstMillis
          return now >= waitingSince + wait
            ? Http.timeoutError(request, started ? "idle" : "first-event", started ? limits.idle : limits.first)
            : undefined
        },
        fire: (error) =>
          Effect.suspend(() => {
            fired = error
            return abort
          })
      }
      type Output = StreamStage.StageOutput<B, E2 | HttpError>
      // whatever the aborted upstream did (failed, ended), the stream failed by its timeout
      const timedOut = (): Output | undefined => (fired === undefined ? undefined : { emit: [], end: { error: fired } })
      const timed: StreamStage.Handlers<A, B, E, E2 | HttpError> = {
        onPull: () => {
          if (fired !== undefined) return fired
          if (waitingSince === undefined) waitingSince = clock.unsafeCurrentTimeMillis()
          return undefined
        },
        onChunk: (chunk) => {
          const output = handlers.onChunk(chunk)
          // only an element is activity: input that makes none keeps the wait running
          if (output.emit.length > 0) {
            waitingSince = undefined
            started = true
          }
          return output
        },
        onFailure: (error) => timedOut() ?? handlers.onFailure(error),
        onEnd: () => timedOut() ?? handlers.onEnd()
      }
      return Effect.as(
        ticker.add(entry),
        stream.pipe(StreamStage.stage(timed), StreamStage.ensuring(Effect.sync(() => ticker.remove(entry))))
      )
    }))

  const passThrough = <A, E>(): StreamStage.Handlers<A, A, E, E> => ({
    onChunk: (chunk) => ({ emit: Chunk.toReadonlyArray(chunk) }),
    onFailure: (error) => ({ emit: [], end: { error } }),
    onEnd: () => ({ emit: [] })
  })

  const withTimeouts = (request: string, abort: Effect.Effect<void>) =>
  <A, E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E | HttpError, R> =>
    stage(request, abort, passThrough<A, E>)(stream)

  return { withTimeouts, stage }
}

/** Fails the stream with a `turn` timeout once `duration` has passed (for streams with few elements). */
export const turnTimeout = (request: string, duration: Duration.Duration) =>
<A, E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E | HttpError, R> =>
  Stream.interruptWhen(stream, Effect.fail(Http.timeoutError(request, "turn", duration)).pipe(Effect.delay(duration)))
