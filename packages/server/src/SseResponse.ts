/**
 * Server-sent event responses: frames through `@effect/experimental`'s encoder, comment heartbeats while the stream is
 * quiet, and a first-event peek so that a turn failing at once still gets an HTTP error status.
 *
 * @since 0.1.0
 */
import * as Sse from "@effect/experimental/Sse"
import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { StreamStage, Ticker } from "@letta-pipeline/core"
import { Cause, Chunk, Deferred, Duration, Effect, Exit, Fiber, Option, type Scope, Stream } from "effect"

const utf8 = new TextEncoder()

/** An SSE comment: ignored by every SSE client, it keeps proxies and idle timers from closing the stream. */
export const heartbeat = ": ping\n\n"

/** `id:`, `event:` (none for `message`, SSE's default) and `data:`. @category encoding */
export const event = (name: string, data: string, id?: number): string =>
  Sse.encoder.write({ _tag: "Event", event: name, id: id === undefined ? undefined : String(id), data })

/** `data: …` only, as OpenAI streams are framed. @category encoding */
export const data = (text: string): string => event("message", text)

/** `data: [DONE]`. @category encoding */
export const done = data("[DONE]")

/** @category models */
export interface Heartbeats {
  /**
   * The response: frames as they come (the frames of one chunk in one write), and a heartbeat comment whenever
   * nothing was sent for the interval. Needs the request's scope, which lasts while the response streams.
   */
  readonly respond: (
    frames: Stream.Stream<string>
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest | Scope.Scope>
}

interface Open {
  readonly node: ReturnType<typeof NodeHttpServerRequest.toServerResponse>
  lastSent: number
}

/**
 * SSE responses with a heartbeat comment after `interval` of quiet.
 *
 * One `Ticker` beats for every open response, written straight to the Node response between frames (the platform
 * writes each frame whole, and with backpressure). It wakes every quarter interval, so a quiet stream gets its comment
 * after one to one and a quarter intervals. A fiber per response cost a fork, a timer and an interruption per turn
 * (1.6 ms of CPU, measured), and merging a timer stream into the frames a fiber race per frame.
 *
 * @category constructors
 */
export const heartbeats = (interval: Duration.Duration): Heartbeats => {
  const quietFor = Duration.toMillis(interval)
  const ticker = Ticker.make<Open>(Duration.millis(Math.max(1, quietFor / 4)), (response, now, remove) => {
    if (response.node.writableEnded || response.node.destroyed) remove(response)
    else if (now - response.lastSent >= quietFor && response.node.headersSent) {
      response.node.write(heartbeat)
      response.lastSent = now
    }
    return undefined
  })

  const respond: Heartbeats["respond"] = (frames) =>
    Effect.gen(function*() {
      const clock = yield* Effect.clock
      const response: Open = {
        node: NodeHttpServerRequest.toServerResponse(yield* HttpServerRequest.HttpServerRequest),
        lastSent: clock.unsafeCurrentTimeMillis()
      }
      yield* ticker.add(response)
      yield* Effect.addFinalizer(() => Effect.sync(() => ticker.remove(response)))
      // the frames of one chunk in one write, encoded in the same stage
      const sent = frames.pipe(Stream.mapChunks((chunk): Chunk.Chunk<Uint8Array> => {
        if (Chunk.isEmpty(chunk)) return Chunk.empty()
        response.lastSent = clock.unsafeCurrentTimeMillis()
        return Chunk.of(utf8.encode(chunk.length === 1 ? Chunk.unsafeHead(chunk) : Chunk.join(chunk, "")))
      }))
      return HttpServerResponse.stream(sent, {
        contentType: "text/event-stream",
        // no-transform and X-Accel-Buffering: keep proxies (nginx, …) from buffering the stream
        headers: { "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" }
      })
    })

  return { respond }
}

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
    // one fiber for the first pull and a plain timer for the wait: a timeout race would fork two more per turn
    const decided = yield* Deferred.make<void>()
    const first = yield* Effect.forkScoped(Effect.ensuring(nonEmpty, Deferred.done(decided, Exit.void)))
    const timer = setTimeout(() => Deferred.unsafeDone(decided, Exit.void), Math.min(Duration.toMillis(wait), 2 ** 31 - 1))
    yield* Effect.ensuring(Deferred.await(decided), Effect.sync(() => clearTimeout(timer)))
    const early = first.unsafePoll()
    if (early !== null && Exit.isFailure(early)) {
      // a pull fails with Some(error), or with None when the stream simply ended
      const failure = Option.flatten(Cause.failureOption(early.cause))
      if (Option.isSome(failure)) return yield* Effect.fail(failure.value)
    }
    return StreamStage.unwrap(Effect.matchEffect(Fiber.join(first), {
      onFailure: Option.match({ onNone: () => Effect.succeed(Stream.empty), onSome: Effect.fail }),
      onSuccess: (chunk) => Effect.succeed(Stream.concat(Stream.fromChunk(chunk), Stream.repeatEffectChunkOption(pull)))
    }))
  })
