/**
 * The `HttpClient` of core's Letta calls on Node: undici's `Dispatcher.request` with as little around it as a call
 * needs, and the platform's own undici client (`NodeHttpClient.makeUndici`) wherever more is asked for.
 *
 * Measured in one process (`docs/benchmarks.md`): a short streamed turn cost about 1 ms of CPU through the platform's
 * client against 0.09 ms through undici alone. Much of the difference is work a Letta call does not use while nothing
 * is traced: the client span, an `AbortController` per request whose `abort()` at the end of the scope builds a
 * `DOMException` and its stack trace even when the response is over (undici adds a `RequestAbortedError` when the body
 * was left before its end), a `FinalizationRegistry` entry and a wrapper per response.
 *
 * What this client does:
 * - **Traced** (a tracer other than Effect's default one, e.g. an OTLP exporter, and tracing not disabled) or a body
 *   other than bytes (a stream, form data): the call goes to the platform's client, spans and trace propagation
 *   included. Effect's default tracer keeps its spans to itself, so nothing is lost by not making them.
 * - **Otherwise**: one `Dispatcher.request`, interrupted by aborting it while its headers are awaited. The response's
 *   body is read on demand: `text`/`json`/`arrayBuffer` read it whole, `stream` reads it as it comes.
 * - **Release.** A body read to its end frees its connection for the next call. A `stream` whose consumer says it has
 *   all it wants (`Http.consumerIsDone`: Letta's `[DONE]` arrives just before the end of the body) is read on in the
 *   background, at most 64 KiB and 1 s, then destroyed; one left for any other reason (its client went away, an
 *   interruption, an error) is destroyed at once, since the rest of a turn may be long.
 * - **A streamed call** ({@link Http.StreamCall} in the context): its response is destroyed when the call's scope closes
 *   if it is still being read (a timeout aborting its turn), and a call whose headers do not come within its
 *   `headersTimeout` is aborted and fails with an {@link Http.HeadersTimeout} as its cause (a timer, not a fiber).
 *
 * @since 0.1.0
 */
import {
  Cookies,
  Headers,
  HttpClient,
  HttpClientError,
  type HttpClientRequest,
  HttpClientResponse,
  HttpIncomingMessage,
  UrlParams
} from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import type * as Undici from "@effect/platform-node/Undici"
import {
  Chunk,
  Context,
  DefaultServices,
  Duration,
  Effect,
  Exit,
  FiberRef,
  Inspectable,
  Option,
  Schema,
  Scope,
  Stream,
  Tracer
} from "effect"
import { EventEmitter } from "node:events"
import * as Http from "../internal/http.js"
import * as StreamStage from "../StreamStage.js"

const decodeJson = Schema.decodeEither(Schema.parseJson())

/** What a stream its consumer left is still read for before its connection is closed instead. */
const drainBytes = 64 * 1024
const drainMillis = 1000

function ignoreError(_: unknown) {}

/** Effect's default tracer, whose spans reach no one: calls under it take the thin path. */
const nativeTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

type BodyState = "unread" | "reading" | "draining" | "done"

/**
 * What aborts a request: undici takes an `EventEmitter` as its `signal` (it listens for `abort` and reads `reason`).
 * An `AbortController` is an `EventTarget` with a signal of its own, on which undici's listener is weakly held: a
 * Letta call alone took about 20 µs more CPU with one (167–181 against 139–158 µs, alternating runs).
 */
class Abort extends EventEmitter {
  aborted = false
  reason: unknown = undefined
  abort(reason?: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason
    this.emit("abort")
  }
}

class UndiciResponse extends Inspectable.Class implements HttpClientResponse.HttpClientResponse, Http.Drainable {
  readonly [HttpIncomingMessage.TypeId]: HttpIncomingMessage.TypeId = HttpIncomingMessage.TypeId
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  private state: BodyState = "unread"
  private cachedHeaders: Headers.Headers | undefined
  private bodyResult: Exit.Exit<Buffer, HttpClientError.ResponseError> | undefined
  /** The consumer of `stream` stopped because it had all it wanted (`Http.consumerIsDone`): the rest may be drained. */
  private consumerDone = false

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    readonly source: Undici.Dispatcher.ResponseData,
    private readonly maxBodyBytes: number
  ) {
    super()
    // an error while nobody reads the body must not become an uncaught exception
    source.body.on("error", ignoreError)
    source.body.once("end", () => {
      this.state = "done"
    })
  }

  get status(): number {
    return this.source.statusCode
  }

  get headers(): Headers.Headers {
    return this.cachedHeaders ??= Headers.fromInput(this.source.headers)
  }

  get cookies(): Cookies.Cookies {
    const header = this.source.headers["set-cookie"]
    return header === undefined ? Cookies.empty : Cookies.fromSetCookie(Array.isArray(header) ? header : [header])
  }

  get remoteAddress(): Option.Option<string> {
    return Option.none()
  }

  private decodeError(cause: unknown): HttpClientError.ResponseError {
    return new HttpClientError.ResponseError({ request: this.request, response: this, reason: "Decode", cause })
  }

  [Http.consumerDone](): void {
    this.consumerDone = true
  }

  /** Closes the connection unless the body is over or being drained (a {@link Http.StreamCall}'s scope closing). */
  release(): void {
    if (this.state === "unread" || this.state === "reading") {
      this.state = "done"
      this.source.body.destroy()
    }
  }

  /** Reads on what its consumer left, bounded, so that the connection can be reused; destroys it past the bound. */
  private drain(): void {
    const body = this.source.body
    if (this.state === "done" || body.destroyed || body.readableEnded) return
    this.state = "draining"
    let budget = drainBytes
    const stop = () => {
      clearTimeout(timer)
      body.off("data", count)
      if (!body.readableEnded) body.destroy()
    }
    const count = (chunk: Buffer) => {
      budget -= chunk.length
      if (budget < 0) stop()
    }
    const timer = setTimeout(stop, drainMillis)
    timer.unref()
    body.on("data", count)
    body.once("end", () => clearTimeout(timer))
    body.once("close", () => clearTimeout(timer))
    body.resume()
  }

  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    type Pull = StreamStage.Pull<Uint8Array, HttpClientError.ResponseError>
    // a pull of its own (no channel): read as the turn's pull, the body costs one effect per read
    return StreamStage.fromPull(Effect.uninterruptible(Effect.flatMap(Effect.scope, (scope) => {
      const body = this.source.body
      if (this.state !== "unread") {
        return Effect.succeed<Pull>(Effect.fail(Option.some(this.decodeError(new Error("the body was already read")))))
      }
      this.state = "reading"
      // the pull that found no data waits for the next `readable`, `end` or `error`; one that came between that read
      // and the wait (the fiber may yield in between) is kept in `pending`
      let wake: (() => void) | undefined
      let pending = false
      let failure: unknown = body.errored
      let failed = body.errored !== null || body.destroyed
      const onEvent = () => {
        const resume = wake
        wake = undefined
        if (resume === undefined) pending = true
        else resume()
      }
      const onError = (error: unknown) => {
        failed = true
        failure = error
        onEvent()
      }
      body.on("readable", onEvent)
      body.on("end", onEvent)
      body.on("close", onEvent)
      body.on("error", onError)
      // no canceler on purpose: with one, `Effect.async` wraps the wait in an `onInterrupt` (six more runtime
      // operations on every read). An interrupted wait leaves its spent resume in `wake`, which the next pull clears
      // before it reads; the scope's finalizer removes the listeners.
      const waitForData = Effect.async<void>((resume) => {
        if (pending) return resume(Effect.void)
        wake = () => resume(Effect.void)
      })
      const pull: Pull = Effect.suspend(() => {
        if (failed) return Effect.fail(Option.some(this.decodeError(failure ?? new Error("the body was closed"))))
        pending = false
        // from here to the wait below, an event must be kept in `pending`, not given to a wait interrupted earlier
        wake = undefined
        const first = body.read() as Buffer | null
        if (first === null) {
          if (body.readableEnded) return Effect.fail(Option.none())
          if (body.destroyed) {
            return Effect.fail(Option.some(this.decodeError(body.errored ?? new Error("the body was closed"))))
          }
          return Effect.zipRight(waitForData, pull)
        }
        const chunks: Array<Uint8Array> = [first]
        for (let next = body.read() as Buffer | null; next !== null; next = body.read() as Buffer | null) {
          chunks.push(next)
        }
        return Effect.succeed(Chunk.unsafeFromArray(chunks))
      })
      return Effect.as(
        Scope.addFinalizerExit(scope, (exit) =>
          Effect.sync(() => {
            body.off("readable", onEvent)
            body.off("end", onEvent)
            body.off("close", onEvent)
            body.off("error", onError)
            if (this.state !== "reading") return
            if (body.readableEnded) this.state = "done"
            // a consumer that went away (a client that left, an interruption, an error) may leave a long turn behind
            else if (this.consumerDone && Exit.isSuccess(exit)) this.drain()
            else this.release()
          })),
        pull
      )
    })))
  }

  /** The whole body, read once (at most `maxBodyBytes`); later reads get the same bytes. */
  private get bytes(): Effect.Effect<Buffer, HttpClientError.ResponseError> {
    return Effect.suspend(() => {
      if (this.bodyResult !== undefined) return this.bodyResult
      if (this.state !== "unread") return Effect.fail(this.decodeError(new Error("the body was already read")))
      const body = this.source.body
      if (body.errored !== null || body.destroyed) {
        return Effect.fail(this.decodeError(body.errored ?? new Error("the body was closed")))
      }
      this.state = "reading"
      return Effect.async<Buffer, HttpClientError.ResponseError>((resume) => {
        const parts: Array<Buffer> = []
        let size = 0
        const onData = (chunk: Buffer) => {
          size += chunk.length
          parts.push(chunk)
          if (size > this.maxBodyBytes) {
            finish(Exit.fail(this.decodeError(new Error(`the answer is larger than ${this.maxBodyBytes} bytes`))))
            this.release()
          }
        }
        const finish = (result: Exit.Exit<Buffer, HttpClientError.ResponseError>) => {
          body.off("data", onData)
          body.off("end", onEnd)
          body.off("error", onError)
          this.bodyResult = result
          resume(result)
        }
        const onEnd = () => finish(Exit.succeed(Buffer.concat(parts)))
        const onError = (error: unknown) => finish(Exit.fail(this.decodeError(error)))
        body.on("data", onData)
        body.once("end", onEnd)
        body.once("error", onError)
        return Effect.sync(() => {
          body.off("data", onData)
          body.off("end", onEnd)
          body.off("error", onError)
          this.release()
        })
      })
    })
  }

  get text(): Effect.Effect<string, HttpClientError.ResponseError> {
    return Effect.map(this.bytes, (bytes) => bytes.toString("utf8"))
  }

  get json(): Effect.Effect<unknown, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) =>
      text === "" ? Effect.succeed(null) : Effect.mapError(decodeJson(text), (cause) => this.decodeError(cause)))
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> {
    return Effect.map(this.bytes, (bytes) =>
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({
        try: () => UrlParams.fromInput(new URLSearchParams(text)),
        catch: (cause) => this.decodeError(cause)
      }))
  }

  get formData(): Effect.Effect<FormData, HttpClientError.ResponseError> {
    return Effect.fail(this.decodeError(new Error("form data answers are not read by this client")))
  }

  toJSON(): unknown {
    return HttpIncomingMessage.inspect(this, {
      _id: "@effect/platform/HttpClientResponse",
      request: this.request.toJSON(),
      status: this.status
    })
  }
}

/**
 * A client over `dispatcher` (see the module's description).
 *
 * Errors: a failed request is a `RequestError` (`Transport`, its cause undici's error; `InvalidUrl`), a failed body a
 * `ResponseError` (`Decode`), as from the platform's client; so is a body read whole past `maxBodyBytes`, which the
 * platform's client does not bound.
 *
 * @category constructors
 */
export const make = (
  dispatcher: Undici.Dispatcher,
  options: {
    /** The largest body `text`, `json` and `arrayBuffer` read (bytes; 64 MiB by default); `stream` is not bounded. */
    readonly maxBodyBytes?: number | undefined
  } = {}
): HttpClient.HttpClient => {
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024 * 1024
  const platform = NodeHttpClient.makeUndici(dispatcher)
  const scopedPlatform = HttpClient.withScope(platform)
  const client: HttpClient.HttpClient = HttpClient.makeWith<HttpClientError.HttpClientError, never, HttpClientError.HttpClientError, never>(
    (effect) =>
      Effect.flatMap(effect, (request) =>
        Effect.withFiberRuntime<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((fiber) => {
          const call = Context.getOption(fiber.currentContext, Http.StreamCall)
          const traced = fiber.getFiberRef(FiberRef.currentTracerEnabled) && fiber.currentTracer !== nativeTracer
          if (traced || (request.body._tag !== "Empty" && request.body._tag !== "Uint8Array")) {
            if (Option.isNone(call)) return platform.execute(request)
            const { headersTimeout, scope } = call.value
            return Effect.provideService(scopedPlatform.execute(request), Scope.Scope, scope).pipe(
              Effect.timeoutFail({
                duration: headersTimeout,
                onTimeout: () =>
                  new HttpClientError.RequestError({ request, reason: "Transport", cause: new Http.HeadersTimeout(headersTimeout) })
              })
            )
          }
          const url = UrlParams.makeUrl(request.url, request.urlParams, request.hash)
          if (url._tag === "Left") {
            return Effect.fail(new HttpClientError.RequestError({ request, reason: "InvalidUrl", cause: url.left }))
          }
          const send = Effect.async<UndiciResponse, HttpClientError.RequestError>((resume) => {
            const controller = new Abort()
            // a timer, not Effect's clock: a race of fibers (Effect.timeoutFail) or an entry of a ticker that stops
            // between calls forks a fiber per call, 20–40 KiB of a short turn's ~510 (docs/benchmarks.md)
            const timer = Option.isSome(call)
              ? setTimeout(
                () => controller.abort(new Http.HeadersTimeout(call.value.headersTimeout)),
                Math.min(Duration.toMillis(call.value.headersTimeout), 2 ** 31 - 1)
              )
              : undefined
            dispatcher.request({
              signal: controller,
              method: request.method,
              headers: request.headers,
              origin: url.right.origin,
              path: url.right.pathname + url.right.search,
              body: request.body._tag === "Uint8Array" ? request.body.body : null,
              // timeouts are the caller's (the StreamCall's, Effect.timeout and core's watchdog)
              headersTimeout: 60 * 60 * 1000,
              bodyTimeout: 0
            }, (error, data) => {
              clearTimeout(timer)
              if (error !== null && error !== undefined) {
                const reason = controller.reason
                resume(Effect.fail(new HttpClientError.RequestError({
                  request,
                  reason: "Transport",
                  cause: reason instanceof Http.HeadersTimeout ? reason : error
                })))
              } else {
                resume(Effect.succeed(new UndiciResponse(request, data, maxBodyBytes)))
              }
            })
            return Effect.sync(() => {
              clearTimeout(timer)
              controller.abort()
            })
          })
          if (Option.isNone(call)) return send
          const scope = call.value.scope
          return Effect.tap(send, (response) => Scope.addFinalizer(scope, Effect.sync(() => response.release())))
        })),
    Effect.succeed
  )
  return Object.assign(client, { [Http.honoursStreamCall]: true })
}
