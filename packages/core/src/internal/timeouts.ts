/**
 * Stream timeouts shared by the Letta clients.
 */
import { Chunk, type Duration, Effect, Option, Stream } from "effect"
import type { HttpError } from "../LettaError.js"
import * as Http from "./http.js"

/**
 * Bounds the wait for the first element by `first` and every later one by `idle`: a pull that takes longer fails.
 */
export const timeouts = (
  request: string,
  first: Duration.Duration,
  idle: Duration.Duration
) =>
<A, E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E | HttpError, R> =>
  Stream.unwrapScoped(
    Effect.map(Stream.toPull(stream), (pull) => {
      let started = false
      return Stream.repeatEffectChunkOption(
        Effect.suspend(() => {
          const [phase, duration] = started ? ["idle" as const, idle] : ["first-event" as const, first]
          const next: Effect.Effect<Chunk.Chunk<A>, Option.Option<E | HttpError>, R> = pull
          return next.pipe(
            Effect.timeoutFail({
              duration,
              onTimeout: () => Option.some(Http.timeoutError(request, phase, duration))
            }),
            Effect.tap((chunk) => {
              if (Chunk.isNonEmpty(chunk)) started = true
            })
          )
        })
      )
    })
  )

/** Fails the stream with a `turn` timeout once `duration` has passed. */
export const turnTimeout = (request: string, duration: Duration.Duration) =>
<A, E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E | HttpError, R> =>
  Stream.interruptWhen(stream, Effect.fail(Http.timeoutError(request, "turn", duration)).pipe(Effect.delay(duration)))

