/**
 * The REST transport of `LettaClient` and `LettaRuns`: requests to Letta's base URL with its credentials, JSON answers
 * decoded by a schema, turns streamed as SSE and decoded frame by frame, every failure mapped to `PipelineError`.
 *
 * Stateless once made: two services made over the same settings behave as one.
 */
import { Headers, HttpClient, type HttpClientError, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import {
  Clock,
  Duration,
  Effect,
  Either,
  Exit,
  FiberRef,
  identity,
  Option,
  Redacted,
  Schema,
  Scope,
  Stream
} from "effect"
import * as Json from "../JsonText.js"
import type * as LettaConfig from "../LettaConfig.js"
import { DecodeError, excerptOf, LettaError, type PipelineError } from "../LettaError.js"
import * as LettaSchema from "../LettaSchema.js"
import * as StreamStage from "../StreamStage.js"
import * as Http from "./http.js"
import { retryTransient, waitWhileBusy } from "./retry.js"
import * as SseDecoder from "./sse.js"
import * as Timeouts from "./timeouts.js"

/** What the transport needs: an `HttpClient` and the connection part of `LettaConfig.Settings`. */
export interface Options {
  readonly httpClient: HttpClient.HttpClient
  /** Without a trailing slash or `/v1` (`LettaConfig.normalizeBaseUrl`); request paths start with `/v1`. */
  readonly baseUrl: string
  /** Sent as `Authorization: Bearer …` (`LETTA_API_KEY`). */
  readonly apiKey: Option.Option<Redacted.Redacted>
  /** Sent as `X-BARE-PASSWORD: password …` (`LETTA_PASSWORD`, self-hosted `--secure`). */
  readonly password: Option.Option<Redacted.Redacted>
  readonly timeouts: LettaConfig.Timeouts
  /** Retries of a GET after a transient failure (0: none). */
  readonly retries: number
  /** How long a turn is sent again while Letta answers 409 busy (0: not at all). */
  readonly busyWait: Duration.Duration
}

/** The options of a settings value. */
export const optionsOf = (httpClient: HttpClient.HttpClient, settings: LettaConfig.Settings): Options => ({
  httpClient,
  baseUrl: settings.baseUrl,
  apiKey: settings.apiKey,
  password: settings.password,
  timeouts: settings.timeouts,
  retries: settings.retries,
  busyWait: settings.busyWait
})

/** The ids a call is about, named in its errors (a 404 on a conversation means the conversation is gone). */
export interface Ids {
  readonly agentId?: string | undefined
  readonly conversationId?: string | undefined
}

/** How one JSON call is made. */
export interface JsonCall<A, I> {
  readonly schema: Schema.Schema<A, I>
  /** What the answer is, for errors ("agent list"). */
  readonly what: string
  readonly ids?: Ids | undefined
  /**
   * `connect` (default): headers within `LETTA_CONNECT_TIMEOUT`. `turn`: a blocking turn, whose headers come when the
   * turn is over, so within `LETTA_TURN_TIMEOUT`.
   */
  readonly phase?: "connect" | "turn" | undefined
  /** Sent again while Letta answers 409 busy (calls that start a run). */
  readonly waitWhileBusy?: boolean | undefined
}

export interface Transport {
  /** One request, its JSON answer decoded; GETs are retried after transient failures. */
  readonly json: <A, I>(
    request: HttpClientRequest.HttpClientRequest,
    call: JsonCall<A, I>
  ) => Effect.Effect<A, PipelineError>
  /** One streamed turn: sent again while Letta is busy, bounded by the turn's timeouts, released with its consumer. */
  readonly stream: (
    request: HttpClientRequest.HttpClientRequest,
    ids: Ids
  ) => Stream.Stream<LettaSchema.LettaMessage, PipelineError>
}

/** A JSON `POST` (bodies are encoded by their schemas before). */
export const post = (path: string, body: unknown): HttpClientRequest.HttpClientRequest =>
  HttpClientRequest.post(path).pipe(HttpClientRequest.bodyUnsafeJson(body))

const redactedHeaderNames = ["x-bare-password"]

/**
 * Builds the transport.
 *
 * No User-Agent on purpose: Letta treats UA-less clients as SDK 1.0+, while a UA such as `node` or `letta-pipeline/x`
 * marks a "legacy" client (422 on streaming, heavier agent payloads).
 */
export const make = (options: Options): Transport => {
  const limits = options.timeouts
  const client = options.httpClient.pipe(
    HttpClient.mapRequest((request) => {
      let out = HttpClientRequest.prependUrl(request, options.baseUrl)
      if (Option.isSome(options.apiKey)) out = HttpClientRequest.bearerToken(out, options.apiKey.value)
      if (Option.isSome(options.password)) {
        out = HttpClientRequest.setHeader(out, "x-bare-password", `password ${Redacted.value(options.password.value)}`)
      }
      return out
    }),
    // the client renders request headers only as a span's attributes: without spans there is nothing to redact, and
    // setting the ref costs a copy of the fiber's refs per call
    HttpClient.transformResponse((execute) =>
      Effect.withFiberRuntime<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((fiber) =>
        fiber.getFiberRef(FiberRef.currentTracerEnabled)
          ? Effect.locallyWith(execute, Headers.currentRedactedNames, (names) => [...names, ...redactedHeaderNames])
          : execute
      )
    )
  )
  // the platform's `withScope` costs an AbortController per request, aborted (a DOMException and its stack) even when
  // the response is over, and `Effect.timeoutFail` a fiber and a race: a client that honours `Http.StreamCall` needs
  // neither
  const honoursCall = Http.honoursStreamCall in options.httpClient
  const scopedClient = HttpClient.withScope(client)
  const watchdog = Timeouts.make({ first: limits.firstEvent, idle: limits.idle, turn: limits.turn })

  /** The response of a successful status, else the status's error, with what its body says. */
  const checkStatus = (ids: Ids) =>
  (response: HttpClientResponse.HttpClientResponse): Effect.Effect<HttpClientResponse.HttpClientResponse, PipelineError> =>
    response.status >= 200 && response.status < 300
      ? Effect.succeed(response)
      : Effect.flatMap(Http.readText(response, limits.idle), (body) => Effect.fail(Http.fromStatus(response, body, ids)))

  /** Executes and checks the status; headers must arrive within `timeout`. */
  const send = <R>(
    httpClient: HttpClient.HttpClient.With<HttpClientError.HttpClientError, R>,
    request: HttpClientRequest.HttpClientRequest,
    ids: Ids,
    timeout: Duration.Duration,
    phase: "connect" | "turn"
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, PipelineError, R> =>
    httpClient.execute(request).pipe(
      Effect.mapError(Http.fromRequestError),
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => Http.timeoutError(Http.describeRequest(request), phase, timeout)
      }),
      Effect.flatMap(checkStatus(ids))
    )

  /** A streamed call on a client that honours `Http.StreamCall`: released with `scope`, its headers timed by it. */
  const sendStreamCall = (request: HttpClientRequest.HttpClientRequest, ids: Ids, scope: Scope.Scope) =>
    client.execute(request).pipe(
      Effect.mapError((error) =>
        error._tag === "RequestError" && error.cause instanceof Http.HeadersTimeout
          ? Http.timeoutError(Http.describeRequest(request), "connect", limits.connect)
          : Http.fromRequestError(error)
      ),
      Effect.flatMap(checkStatus(ids)),
      Effect.provideService(Http.StreamCall, { scope, headersTimeout: limits.connect })
    )

  const json = <A, I>(
    request: HttpClientRequest.HttpClientRequest,
    call: JsonCall<A, I>
  ): Effect.Effect<A, PipelineError> => {
    const decode = Schema.decodeUnknownEither(call.schema)
    const label = Http.describeRequest(request)
    const phase = call.phase ?? "connect"
    const headerTimeout = phase === "turn" ? limits.turn : limits.connect
    return send(client, HttpClientRequest.acceptJson(request), call.ids ?? {}, headerTimeout, phase)
      .pipe(
        Effect.flatMap((response) => Http.readText(response, limits.idle)),
        Effect.flatMap((text) => {
          const body = Json.parse(text)
          if (Either.isLeft(body)) return Effect.fail(Http.invalidJson(call.what, label, text, body.left))
          return Either.match(decode(body.right), {
            onRight: Effect.succeed,
            onLeft: (error) =>
              Effect.zipRight(
                Effect.logDebug(`The ${call.what} from ${label} has an unexpected shape: ${Http.parseErrorTree(error)}`),
                Effect.fail(Http.invalidShape(call.what, label, text, error))
              )
          })
        }),
        Effect.scoped,
        // reads are idempotent: a transient failure is retried; anything that may have changed Letta is not
        request.method === "GET" ? retryTransient(options.retries, label) : identity,
        call.waitWhileBusy === true ? waitWhileBusy(options.busyWait, label) : identity
      )
  }

  const stream = (
    request: HttpClientRequest.HttpClientRequest,
    ids: Ids
  ): Stream.Stream<LettaSchema.LettaMessage, PipelineError> => {
    const label = Http.describeRequest(request)
    const streamRequest = HttpClientRequest.accept(request, "text/event-stream")
    // the HTTP request lives in a scope of its own, closed with the stream or when a timeout aborts the turn
    const acquire = Effect.uninterruptible(Effect.flatMap(Effect.scope, (scope) =>
      Effect.tap(
        Effect.zip(Scope.make(), Clock.currentTimeMillis),
        ([requestScope]) => Scope.addFinalizerExit(scope, (exit) => Scope.close(requestScope, exit))
      )))
    return StreamStage.unwrap(Effect.map(acquire, ([requestScope, sentAt]) => {
      const response = honoursCall
        ? sendStreamCall(streamRequest, ids, requestScope)
        : Scope.extend(send(scopedClient, streamRequest, ids, limits.connect, "connect"), requestScope)
      return StreamStage.unwrap(Effect.map(
        response.pipe(
          // every stream is a turn: sent again while Letta is still busy with an earlier one
          waitWhileBusy(options.busyWait, label)
        ),
        (response): Stream.Stream<LettaSchema.LettaMessage, PipelineError> => {
          const contentType = response.headers["content-type"] ?? ""
          if (!contentType.includes("text/event-stream")) {
            return Stream.fail(
              new DecodeError({
                reason: "ContentType",
                what: "stream response",
                request: label,
                detail: `expected text/event-stream, got ${contentType === "" ? "no content type" : contentType}`
              })
            )
          }
          // SSE frames and the turn's timeouts in one stage
          return response.stream.pipe(watchdog.stage(
            label,
            Scope.close(requestScope, Exit.void),
            () => frames(label, ids, () => Http.consumerIsDone(response)),
            // the turn and the wait for its first frame count from the request, as documented
            sentAt
          ))
        }
      ))
    }))
  }

  return { json, stream }
}

// ---------------------------------------------------------------------------------------------------------------------
// stream frames
// ---------------------------------------------------------------------------------------------------------------------

const decodeErrorMessage = Schema.decodeUnknownEither(LettaSchema.ErrorMessage)
const decodeTransportError = Schema.decodeUnknownEither(LettaSchema.TransportErrorBody)
const decodeCancelled = Schema.decodeUnknownEither(LettaSchema.CancelledBody)

const streamError = (error: LettaSchema.ErrorMessage, ids: Ids): LettaError =>
  new LettaError({
    reason: "StreamError",
    detail: error.detail === undefined || error.detail === null || error.detail === ""
      ? error.message
      : `${error.message} (${error.detail})`,
    errorType: error.error_type,
    ...(error.run_id === undefined || error.run_id === null ? {} : { runId: error.run_id }),
    ...(ids.agentId === undefined ? {} : { agentId: ids.agentId })
  })

/** Marks `data: [DONE]`. */
const Done = Symbol.for("@letta-pipeline/core/LettaClient/Done")
/** A frame that ends the stream with an error, after the frames before it. */
class Failed {
  constructor(readonly error: LettaError | DecodeError) {}
}
type Frame = LettaSchema.LettaMessage | typeof Done | Failed

/**
 * One SSE event to a frame, synchronously, so that a whole chunk of events maps in one step. `event: error` (either
 * body shape) and `event: cancelled` fail the stream, other event names are skipped as the official SDK does.
 */
const toFrame = (event: SseDecoder.SseEvent, request: string, ids: Ids): Option.Option<Frame> => {
  switch (event.event) {
    case "message": {
      if (event.data === "[DONE]") return Option.some(Done)
      const json = Json.parse(event.data)
      if (Either.isLeft(json)) return Option.some(new Failed(Http.invalidJson("stream event", request, event.data, json.left)))
      const message = LettaSchema.decodeMessage(json.right)
      if (Either.isLeft(message)) {
        return Option.some(new Failed(Http.invalidShape("stream event", request, event.data, message.left)))
      }
      return Option.some(message.right.message_type === "error_message" ? new Failed(streamError(message.right, ids)) : message.right)
    }
    case "error": {
      const json = Either.getOrUndefined(Json.parse(event.data))
      const inBand = decodeErrorMessage(json)
      if (Either.isRight(inBand)) return Option.some(new Failed(streamError(inBand.right, ids)))
      const transport = decodeTransportError(json)
      return Option.some(new Failed(
        new LettaError({
          reason: "StreamError",
          detail: Either.isRight(transport) ? transport.right.error : excerptOf(event.data),
          ...(Either.isRight(transport) && transport.right.code !== undefined
            ? { errorType: transport.right.code }
            : {}),
          ...(ids.agentId === undefined ? {} : { agentId: ids.agentId })
        })
      ))
    }
    case "cancelled": {
      const body = decodeCancelled(Either.getOrUndefined(Json.parse(event.data)))
      return Option.some(new Failed(
        new LettaError({
          reason: "Cancelled",
          detail: Either.isRight(body) ? body.right.message : "Run was cancelled",
          ...(ids.agentId === undefined ? {} : { agentId: ids.agentId })
        })
      ))
    }
    default:
      return Option.none()
  }
}

/**
 * The response's bytes to Letta's messages, as a stage's handlers (fresh state: one set per stream): SSE events, each
 * to its frame, up to `[DONE]` or a failing frame (after the frames before it). A stream may also just end (Letta
 * omits `[DONE]` at times); that is fine once Letta said why it stopped, and an `Incomplete` error otherwise. `onDone`
 * is called at `[DONE]`, before the stage stops reading.
 */
const frames = (
  request: string,
  ids: Ids,
  onDone: () => void
): StreamStage.Handlers<Uint8Array, LettaSchema.LettaMessage, HttpClientError.ResponseError, PipelineError> => {
  const decoder = SseDecoder.make()
  let finished = false
  type Output = StreamStage.StageOutput<LettaSchema.LettaMessage, PipelineError>
  const messagesOf = (events: ReadonlyArray<SseDecoder.SseEvent> | SseDecoder.EventTooLarge): Output => {
    if (events instanceof SseDecoder.EventTooLarge) return { emit: [], end: { error: Http.frameTooLarge(request, events) } }
    const out: Array<LettaSchema.LettaMessage> = []
    for (const event of events) {
      const frame = toFrame(event, request, ids)
      if (Option.isNone(frame)) continue
      if (frame.value === Done) {
        onDone()
        return { emit: out, end: true }
      }
      if (frame.value instanceof Failed) return { emit: out, end: { error: frame.value.error } }
      if (frame.value.message_type === "stop_reason") finished = true
      out.push(frame.value)
    }
    return { emit: out }
  }
  return {
    onChunk: (chunk) => {
      const out: Array<LettaSchema.LettaMessage> = []
      for (const read of chunk) {
        const output = messagesOf(decoder.feed(read))
        for (const message of output.emit) out.push(message)
        if (output.end !== undefined) return { emit: out, end: output.end }
      }
      return { emit: out }
    },
    onFailure: (error) => ({ emit: [], end: { error: Http.fromRequestError(error) } }),
    onEnd: () => {
      const output = messagesOf(decoder.end())
      if (output.end !== undefined || finished) return { emit: output.emit, end: output.end ?? true }
      return {
        emit: output.emit,
        end: {
          error: new LettaError({
            reason: "Incomplete",
            detail: "the stream ended without a stop_reason or [DONE]",
            request,
            ...(ids.agentId === undefined ? {} : { agentId: ids.agentId })
          })
        }
      }
    }
  }
}
