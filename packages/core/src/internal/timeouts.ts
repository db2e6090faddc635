/**
 * Stream timeouts shared by the Letta clients: the wait for the first element, for each later one, and for the whole
 * turn.
 *
 * Effect's per-pull timeouts and `Stream.interruptWhen` race a fiber per element; at token rates that was most of a
 * turn's CPU time. Here one watchdog fiber watches the pull in progress and, when a limit passes, aborts the upstream
 * (the caller says how: close the HTTP request, end the socket's queue); the failure that follows becomes the timeout.
 */
import { Chunk, Duration, Effect, Option, Stream } from "effect"
import type { HttpError } from "../LettaError.js"
import * as Http from "./http.js"

export interface Limits {
  readonly first: Duration.Duration
  readonly idle: Duration.Duration
  readonly turn: Duration.Duration
}

/**
 * Bounds the wait for the first element by `first`, every later wait by `idle` (time the consumer takes between pulls
 * is not counted) and the whole stream by `turn`. `abort` must make the pending pull end or fail soon.
 */
export const withTimeouts = (request: string, limits: Limits, abort: Effect.Effect<void>) =>
<A, E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E | HttpError, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const pull = yield* Stream.toPull(stream)
    const clock = yield* Effect.clock
    const startedAt = clock.unsafeCurrentTimeMillis()
    const turnEnds = startedAt + Duration.toMillis(limits.turn)
    const shortest = Math.min(Duration.toMillis(limits.first), Duration.toMillis(limits.idle))
    let started = false
    let fired: HttpError | null = null
    // when the pull in progress began; null between pulls
    let waitingSince: number | null = null

    const fire = (error: HttpError) =>
      Effect.suspend(() => {
        fired = error
        return abort
      })
    const watchdog: Effect.Effect<void> = Effect.suspend(() => {
      const now = clock.unsafeCurrentTimeMillis()
      if (now >= turnEnds) return fire(Http.timeoutError(request, "turn", limits.turn))
      const wait = started ? limits.idle : limits.first
      const waitEnds = waitingSince === null ? Infinity : waitingSince + Duration.toMillis(wait)
      if (now >= waitEnds) return fire(Http.timeoutError(request, started ? "idle" : "first-event", wait))
      // wake when the turn or the current wait would end, and at least every shorter limit: a wait that begins
      // during this sleep cannot end before it is over
      const next = Math.min(turnEnds, waitEnds, now + shortest)
      return Effect.zipRight(Effect.sleep(Duration.millis(next - now)), watchdog)
    })
    yield* Effect.forkScoped(watchdog)

    const timedOut = () => (fired === null ? Option.none() : Option.some(Effect.fail(Option.some<E | HttpError>(fired))))
    return Stream.repeatEffectChunkOption(Effect.suspend(() => {
      const early = timedOut()
      if (Option.isSome(early)) return early.value
      if (waitingSince === null) waitingSince = clock.unsafeCurrentTimeMillis()
      return Effect.matchCauseEffect(pull, {
        onSuccess: (chunk) => {
          // only a frame is activity: an empty chunk (bytes that complete no frame) keeps the wait running
          if (Chunk.isNonEmpty(chunk)) {
            waitingSince = null
            started = true
          }
          return Effect.succeed(chunk)
        },
        // whatever the aborted upstream did (failed, ended), the stream failed by its timeout
        onFailure: (cause) => {
          waitingSince = null
          return Option.getOrElse(timedOut(), () => Effect.failCause(cause))
        }
      })
    }))
  }))

/** Fails the stream with a `turn` timeout once `duration` has passed (for streams with few elements). */
export const turnTimeout = (request: string, duration: Duration.Duration) =>
<A, E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E | HttpError, R> =>
  Stream.interruptWhen(stream, Effect.fail(Http.timeoutError(request, "turn", duration)).pipe(Effect.delay(duration)))
