/**
 * Server-sent event responses: frames through `@effect/experimental`'s encoder, written to the Node response in one
 * loop, comment heartbeats while the stream is quiet, and a first-event wait so that a turn failing at once still gets
 * an HTTP error status.
 *
 * @since 0.1.0
 */
import * as Sse from "@effect/experimental/Sse"
import { Headers, HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { StreamStage, Ticker } from "@letta-pipeline/core"
import { Cause, Chunk, Duration, Effect, Exit, FiberRef, Option, Scope, Stream } from "effect"

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
export interface RespondOptions<E> {
  /**
   * Waits up to this long for the first element before the response starts: a failure by then fails the effect, so
   * that it is answered with an HTTP status. Later failures, and all without this option, go to the renderer.
   */
  readonly firstEventWait?: Duration.Duration | undefined
  /** Runs with each failure before it is rendered (the full error to the log). */
  readonly onFailure?: ((error: E) => Effect.Effect<void>) | undefined
  /** Wraps the writing of the response, once it has started (stream metrics). */
  readonly track?: ((writing: Effect.Effect<void>) => Effect.Effect<void>) | undefined
}

/** @category models */
export interface Responder {
  /**
   * Streams an SSE response to the current request: `events` pulled chunk by chunk, each rendered to frames by
   * `render` (synchronous handlers, fresh for this response) and the frames of a chunk sent in one write, with
   * backpressure. A heartbeat comment goes out whenever nothing was sent for the interval. The effect ends when the
   * response has ended; it needs the request's scope.
   */
  readonly respond: <A, E>(
    events: Stream.Stream<A, E>,
    render: StreamStage.Handlers<A, string, E, never>,
    options?: RespondOptions<E>
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, HttpServerRequest.HttpServerRequest | Scope.Scope>
}

type NodeResponse = ReturnType<typeof NodeHttpServerRequest.toServerResponse>

interface Open {
  readonly node: NodeResponse
  lastSent: number
}

const sseHeaders = Headers.fromInput({
  "content-type": "text/event-stream",
  // no-transform and X-Accel-Buffering: keep proxies (nginx, …) from buffering the stream
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no"
})

/** Resumes once the response can take more (`drain`) or is gone (`close`: the request's fiber is interrupted then). */
const drained = (node: NodeResponse): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const done = () => {
      node.off("drain", done)
      node.off("close", done)
      resume(Effect.void)
    }
    node.on("drain", done)
    node.on("close", done)
    return Effect.sync(() => {
      node.off("drain", done)
      node.off("close", done)
    })
  })

/**
 * SSE responses with a heartbeat comment after `interval` of quiet.
 *
 * The response is one loop in the request's fiber, written straight to the Node response: pull a chunk of events,
 * render it synchronously, write its frames. The platform's streamed body ran a stream per response (a fiber, a scope,
 * two deferreds) behind a stage per step (encode, track, render), and the first-event wait forked a fiber of its own.
 * The headers are the platform's (its pre-response handlers, such as CORS, applied) and the platform writes nothing
 * once the response has ended.
 *
 * One `Ticker` beats for every open response, written between frames. It wakes every quarter interval, so a quiet
 * stream gets its comment after one to one and a quarter intervals.
 *
 * @category constructors
 */
export const responder = (interval: Duration.Duration): Responder => {
  const quietFor = Duration.toMillis(interval)
  const ticker = Ticker.make<Open>(Duration.millis(Math.max(1, quietFor / 4)), (response, now, remove) => {
    if (response.node.writableEnded || response.node.destroyed) remove(response)
    else if (now - response.lastSent >= quietFor && response.node.headersSent) {
      response.node.write(heartbeat)
      response.lastSent = now
    }
    return undefined
  })

  const respond: Responder["respond"] = <A, E>(
    events: Stream.Stream<A, E>,
    render: StreamStage.Handlers<A, string, E, never>,
    options: RespondOptions<E> = {}
  ) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const clock = yield* Effect.clock
      const node = NodeHttpServerRequest.toServerResponse(request)
      const preResponse = yield* FiberRef.get(HttpApp.currentPreResponseHandlers)
      const plain = HttpServerResponse.empty({ status: 200, headers: sseHeaders })
      // the platform's pre-response handlers (CORS) set headers on a response it writes; this one is written here
      const response = Option.isSome(preResponse)
        ? yield* Effect.orElseSucceed(preResponse.value(request, plain), () => plain)
        : plain
      const open: Open = { node, lastSent: clock.unsafeCurrentTimeMillis() }
      /**
       * Writes the head. `flush` sends it at once (a response that waits for its first event, heartbeats meanwhile);
       * otherwise it goes out with the first frames, in the same write.
       */
      const start = (flush: boolean) => {
        if (node.headersSent || node.destroyed) return
        node.writeHead(response.status, response.headers)
        if (flush) node.flushHeaders()
        open.lastSent = clock.unsafeCurrentTimeMillis()
      }
      yield* ticker.add(open)
      // the scope's own addFinalizer: Effect.addFinalizer also restores the fiber's refs around the finalizer, which
      // costs about as much as the rest of a short turn's bookkeeping
      const scope = yield* Effect.scope
      yield* Scope.addFinalizer(scope, Effect.sync(() => ticker.remove(open)))
      // the turn's own pull where it has one: no channel executor between Letta and the socket. Nothing runs before the
      // first pull (Letta's request is sent then), which is within the first-event wait.
      const pull = yield* StreamStage.toPull(events)

      /** Writes what the renderer gave; false when the response is over. */
      const send = (output: StreamStage.StageOutput<string, never>): Effect.Effect<boolean> => {
        if (output.emit.length > 0 && !node.destroyed) {
          start(false)
          open.lastSent = clock.unsafeCurrentTimeMillis()
          const written = node.write(output.emit.length === 1 ? output.emit[0] : output.emit.join(""))
          if (output.end !== undefined) return Effect.succeed(false)
          return written ? Effect.succeed(true) : Effect.as(drained(node), !node.destroyed)
        }
        return Effect.succeed(output.end === undefined && !node.destroyed)
      }
      const failed = (error: E): Effect.Effect<boolean> =>
        Effect.as(
          options.onFailure === undefined
            ? send(render.onFailure(error))
            : Effect.zipRight(options.onFailure(error), Effect.suspend(() => send(render.onFailure(error)))),
          false
        )
      const step = (chunk: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>>): Effect.Effect<boolean> =>
        Effect.matchEffect(chunk, {
          // the events are over whatever the renderer says: the pull must not be called again
          onFailure: Option.match({ onNone: () => Effect.as(send(render.onEnd()), false), onSome: failed }),
          onSuccess: (chunk) => send(render.onChunk(chunk))
        })
      /** Writes `next`'s chunk, then every later one. */
      const writeFrom = (next: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>>): Effect.Effect<void> =>
        Effect.flatMap(step(next), (more) => (more ? writeFrom(pull) : Effect.void))

      let first: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>> = pull
      // without a wait the response starts at once, and heartbeats go out while the first event is awaited
      if (options.firstEventWait === undefined) start(true)
      else {
        // an empty chunk (a ping that makes no event) is not the first element
        const nonEmpty: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>> = Effect.flatMap(
          pull,
          (chunk) => (Chunk.isEmpty(chunk) ? nonEmpty : Effect.succeed(chunk))
        )
        // past the wait, the response starts (a 200 and heartbeats) while the pull goes on in this fiber
        const timer = setTimeout(() => start(true), Math.min(Duration.toMillis(options.firstEventWait), 2 ** 31 - 1))
        const exit = yield* Effect.exit(Effect.ensuring(nonEmpty, Effect.sync(() => clearTimeout(timer))))
        if (Exit.isFailure(exit) && !node.headersSent) {
          // a pull fails with Some(error), or with None when the stream simply ended
          const failure = Option.flatten(Cause.failureOption(exit.cause))
          if (Option.isSome(failure)) return yield* Effect.fail(failure.value)
        }
        first = exit
      }
      const writing = Effect.zipRight(
        writeFrom(first),
        Effect.sync(() => {
          start(false)
          if (!node.writableEnded && !node.destroyed) node.end()
        })
      )
      yield* options.track === undefined ? writing : options.track(writing)
      return response
    })

  return { respond }
}
