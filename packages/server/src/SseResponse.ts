/**
 * Server-sent event responses: frames through `@effect/experimental`'s encoder, comment heartbeats while the stream is
 * quiet, and a first-event peek so that a turn failing at once still gets an HTTP error status.
 *
 * @since 0.1.0
 */
import * as Sse from "@effect/experimental/Sse"
import { HttpServerResponse } from "@effect/platform"
import { Cause, Clock, Duration, Effect, Either, Exit, Fiber, Option, Ref, Schedule, type Scope, Stream } from "effect"

/** An SSE comment: ignored by every SSE client, it keeps proxies and idle timers from closing the stream. */
export const heartbeat = ": ping\n\n"

/** `id:`, `event:` (none for `message`, SSE's default) and `data:`. @category encoding */
export const event = (name: string, data: string, id?: number): string =>
  Sse.encoder.write({ _tag: "Event", event: name, id: id === undefined ? undefined : String(id), data })

/** `data: …` only, as OpenAI streams are framed. @category encoding */
export const data = (text: string): string => event("message", text)

/** `data: [DONE]`. @category encoding */
export const done = data("[DONE]")

/**
 * Adds a heartbeat whenever nothing was sent for `interval`.
 *
 * @category combinators
 */
export const withHeartbeat = (interval: Duration.Duration) => <E>(frames: Stream.Stream<string, E>): Stream.Stream<string, E> =>
  Stream.unwrap(Effect.gen(function*() {
    const lastSent = yield* Ref.make(yield* Clock.currentTimeMillis)
    const sent = frames.pipe(Stream.tap(() => Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.set(lastSent, now))))
    const quietFor = Duration.toMillis(interval)
    const beats = Stream.fromSchedule(Schedule.spaced(Duration.millis(Math.max(1, quietFor / 2)))).pipe(
      Stream.filterEffect(() =>
        Effect.zipWith(Clock.currentTimeMillis, Ref.get(lastSent), (now, last) => now - last >= quietFor)
      ),
      Stream.mapEffect(() => Effect.as(Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.set(lastSent, now)), heartbeat))
    )
    return Stream.merge(sent, beats, { haltStrategy: "left" })
  }))

/** @category constructors */
export const make = (frames: Stream.Stream<string>, heartbeatInterval: Duration.Duration): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.stream(frames.pipe(withHeartbeat(heartbeatInterval), Stream.encodeText), {
    contentType: "text/event-stream",
    // no-transform and X-Accel-Buffering: keep proxies (nginx, …) from buffering the stream
    headers: { "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" }
  })

/**
 * Waits up to `wait` for the stream's first element. A failure by then comes back as `Left` (answer it with an HTTP
 * status); otherwise the whole stream, first element included, as `Right`. Needs the request's scope, which lasts
 * while the response streams.
 *
 * @category combinators
 */
export const peek = <A, E>(
  stream: Stream.Stream<A, E>,
  wait: Duration.Duration
): Effect.Effect<Either.Either<Stream.Stream<A, E>, E>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pull = yield* Stream.toPull(stream)
    const first = yield* Effect.forkScoped(pull)
    const early = yield* Effect.timeoutOption(Fiber.await(first), wait)
    if (Option.isSome(early) && Exit.isFailure(early.value)) {
      // a pull fails with Some(error), or with None when the stream simply ended
      const failure = Option.flatten(Cause.failureOption(early.value.cause))
      if (Option.isSome(failure)) return Either.left(failure.value)
    }
    const rest = Stream.unwrap(Effect.matchEffect(Fiber.join(first), {
      onFailure: Option.match({ onNone: () => Effect.succeed(Stream.empty), onSome: Effect.fail }),
      onSuccess: (chunk) => Effect.succeed(Stream.concat(Stream.fromChunk(chunk), Stream.repeatEffectChunkOption(pull)))
    }))
    return Either.right(rest)
  })
