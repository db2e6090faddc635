/**
 * Server-sent event responses: frames through `@effect/experimental`'s encoder, comment heartbeats while the stream is
 * quiet, and a first-event peek so that a turn failing at once still gets an HTTP error status.
 *
 * @since 0.1.0
 */
import * as Sse from "@effect/experimental/Sse"
import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Cause, Chunk, Duration, Effect, Exit, Fiber, Option, type Scope, Stream } from "effect"

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
 * The response: frames as they come, and a heartbeat comment whenever nothing was sent for `heartbeatInterval`.
 *
 * The heartbeat is written straight to the Node response between frames (the platform writes each frame whole, and
 * with backpressure), by one fiber in the request's scope: merging a timer stream into the frames costs a fiber race
 * per frame, which at token rates was half of the server's CPU time.
 *
 * @category constructors
 */
export const make = (
  frames: Stream.Stream<string>,
  heartbeatInterval: Duration.Duration
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest | Scope.Scope> =>
  Effect.gen(function*() {
    const node = NodeHttpServerRequest.toServerResponse(yield* HttpServerRequest.HttpServerRequest)
    const clock = yield* Effect.clock
    const quietFor = Duration.toMillis(heartbeatInterval)
    let lastSent = clock.unsafeCurrentTimeMillis()
    const beat: Effect.Effect<void> = Effect.suspend(() => {
      if (node.writableEnded || node.destroyed) return Effect.void
      const now = clock.unsafeCurrentTimeMillis()
      if (now - lastSent >= quietFor && node.headersSent) {
        node.write(heartbeat)
        lastSent = now
      }
      return Effect.zipRight(Effect.sleep(Duration.millis(Math.max(1, lastSent + quietFor - now))), beat)
    })
    yield* Effect.forkScoped(beat)
    // the frames of one chunk in one write
    const sent = frames.pipe(Stream.mapChunks((chunk) => {
      if (Chunk.isEmpty(chunk)) return chunk
      lastSent = clock.unsafeCurrentTimeMillis()
      return Chunk.of(Chunk.join(chunk, ""))
    }))
    return HttpServerResponse.stream(sent.pipe(Stream.encodeText), {
      contentType: "text/event-stream",
      // no-transform and X-Accel-Buffering: keep proxies (nginx, …) from buffering the stream
      headers: { "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" }
    })
  })

/**
 * Waits up to `wait` for the stream's first element. A failure by then fails the effect (answer it with an HTTP
 * status); otherwise the whole stream, first element included. Needs the request's scope, which lasts while the
 * response streams.
 *
 * @category combinators
 */
export const peek = <A, E>(
  stream: Stream.Stream<A, E>,
  wait: Duration.Duration
): Effect.Effect<Stream.Stream<A, E>, E, Scope.Scope> =>
  Effect.gen(function*() {
    const pull = yield* Stream.toPull(stream)
    // an empty chunk (a ping that makes no event) is not the first element
    const nonEmpty: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>> = Effect.flatMap(
      pull,
      (chunk) => (Chunk.isEmpty(chunk) ? nonEmpty : Effect.succeed(chunk))
    )
    const first = yield* Effect.forkScoped(nonEmpty)
    const early = yield* Effect.timeoutOption(Fiber.await(first), wait)
    if (Option.isSome(early) && Exit.isFailure(early.value)) {
      // a pull fails with Some(error), or with None when the stream simply ended
      const failure = Option.flatten(Cause.failureOption(early.value.cause))
      if (Option.isSome(failure)) return yield* Effect.fail(failure.value)
    }
    return Stream.unwrap(Effect.matchEffect(Fiber.join(first), {
      onFailure: Option.match({ onNone: () => Effect.succeed(Stream.empty), onSome: Effect.fail }),
      onSuccess: (chunk) => Effect.succeed(Stream.concat(Stream.fromChunk(chunk), Stream.repeatEffectChunkOption(pull)))
    }))
  })
