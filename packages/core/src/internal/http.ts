/**
 * Turning `@effect/platform` HTTP outcomes into core's three errors.
 */
import { HttpClientError, type HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { Context, Duration, Effect, Either, Option, ParseResult, Schema, type Scope } from "effect"
import { DecodeError, excerptOf, HttpError, LettaError, type LettaErrorReason, type TimeoutPhase } from "../LettaError.js"
import * as Json from "../JsonText.js"
import * as LettaSchema from "../LettaSchema.js"
import * as SchemaText from "../SchemaText.js"
import type { EventTooLarge } from "./sse.js"

/**
 * How one streamed call is made: its scope and the time its response's headers may take.
 *
 * - `scope`: when it closes (the turn is over, or a timeout aborts it), the call's connection is released.
 * - `headersTimeout`: past it, the call fails with a `RequestError` whose cause is a {@link HeadersTimeout}.
 *
 * A client marked {@link honoursStreamCall} honours both itself; any other is wrapped in the platform's
 * `HttpClient.withScope`, which aborts every request when the scope in its context closes, and timed by
 * `Effect.timeoutFail`, which costs a fiber and a race per call.
 */
export class StreamCall extends Context.Tag("@letta-pipeline/core/StreamCall")<StreamCall, {
  readonly scope: Scope.Scope
  readonly headersTimeout: Duration.Duration
}>() {}

/** Marks an `HttpClient` that honours the {@link StreamCall} it was executed with. */
export const honoursStreamCall: unique symbol = Symbol.for("@letta-pipeline/core/honoursStreamCall")

/** The cause of a call whose headers did not come within its {@link StreamCall}'s `headersTimeout`. */
export class HeadersTimeout extends Error {
  constructor(readonly after: Duration.Duration) {
    super(`no response headers within ${Duration.format(after)}`)
    this.name = "HeadersTimeout"
  }
}

/** The method by which a response hears {@link consumerIsDone}. */
export const consumerDone: unique symbol = Symbol.for("@letta-pipeline/core/consumerDone")

/** A response that may keep its connection when its consumer stops before the end of the body. */
export interface Drainable {
  readonly [consumerDone]: () => void
}

const isDrainable = (response: object): response is Drainable => consumerDone in response

/**
 * Tells `response` that its consumer stopped because it has all it wants (Letta's `[DONE]`), not because it went away:
 * a response of a client marked {@link honoursStreamCall} then reads on what little is left of its body so
 * that its connection is kept. Any other stop closes the connection. A no-op for other clients' responses.
 */
export const consumerIsDone = (response: HttpClientResponse.HttpClientResponse): void => {
  if (isDrainable(response)) response[consumerDone]()
}

/** `METHOD url` without query string; base URLs never hold credentials (checked by the config). */
export const describeRequest = (request: HttpClientRequest.HttpClientRequest): string => {
  const url = request.url
  const query = url.indexOf("?")
  return `${request.method} ${query === -1 ? url : url.slice(0, query)}`
}

const tlsCodes = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "HOSTNAME_MISMATCH"
])

interface ErrorLike {
  readonly code?: unknown
  readonly message?: unknown
  readonly cause?: unknown
  /** A socket's error event (`ws`'s `ErrorEvent`) holds its error here. */
  readonly error?: unknown
}

const causeChain = (cause: unknown): ReadonlyArray<ErrorLike> => {
  const chain: Array<ErrorLike> = []
  let current = cause
  while (typeof current === "object" && current !== null && chain.length < 8) {
    const error = current as ErrorLike
    chain.push(error)
    current = error.cause ?? error.error
  }
  return chain
}

const describe = (error: ErrorLike): string =>
  [error.code, error.message].filter((part) => typeof part === "string" && part !== "").join(" ")

/**
 * The certificate failure behind a failed connection (Node's TLS codes, `DEPTH_ZERO_SELF_SIGNED_CERT`, …), described
 * by its code and message; undefined when the failure was not one.
 */
export const tlsFailure = (cause: unknown): string | undefined => {
  const tls = causeChain(cause).find((e) => typeof e.code === "string" && tlsCodes.has(e.code))
  return tls === undefined ? undefined : describe(tls)
}

/** Describes a transport failure by its innermost `code` and message (no headers, so no secrets). */
export const fromRequestError = (error: HttpClientError.HttpClientError): HttpError => {
  const chain = causeChain(error.cause)
  const tls = chain.find((e) => typeof e.code === "string" && tlsCodes.has(e.code))
  const coded = tls ?? [...chain].reverse().find((e) => typeof e.code === "string") ?? chain.at(-1)
  const text = coded === undefined ? error.reason : describe(coded)
  return new HttpError({
    reason: tls === undefined ? "Transport" : "Tls",
    request: describeRequest(error.request),
    detail: text === "" ? error.message : text,
    cause: error.cause
  })
}

export const timeoutError = (request: string, phase: TimeoutPhase, after: Duration.Duration): HttpError =>
  new HttpError({
    reason: "Timeout",
    request,
    phase,
    detail: `nothing within ${Duration.format(after)}`
  })

const reasonOf = (status: number): LettaErrorReason => {
  switch (status) {
    case 401:
      return "Unauthorized"
    case 403:
      return "Forbidden"
    case 404:
      return "NotFound"
    case 409:
      return "Conflict"
    case 429:
      return "RateLimited"
    default:
      return status >= 500 ? "ServerError" : "Rejected"
  }
}

const encodeJson = Schema.encodeSync(Schema.parseJson())
const decodeErrorBody = Schema.decodeUnknownEither(LettaSchema.ErrorBody)

const textOf = (value: unknown): string => {
  if (typeof value === "string") return value
  if (typeof value === "object" && value !== null && "message" in value && typeof value.message === "string") {
    return value.message
  }
  return excerptOf(encodeJson(value))
}

/** The `code` of an object `detail` (`{"code": "PENDING_APPROVAL", …}`). */
const codeOf = (detail: unknown): string | undefined =>
  typeof detail === "object" && detail !== null && "code" in detail && typeof detail.code === "string"
    ? detail.code
    : undefined

/**
 * A non-2xx answer: a `LettaError` when the body is one of Letta's two error families, else an `HttpError` (a proxy
 * page, an empty body).
 */
export const fromStatus = (
  response: HttpClientResponse.HttpClientResponse,
  body: string,
  ids: { readonly agentId?: string | undefined; readonly conversationId?: string | undefined }
): LettaError | HttpError => {
  const request = describeRequest(response.request)
  const decoded = Either.flatMap(Json.parse(body), decodeErrorBody)
  if (Either.isLeft(decoded)) {
    return new HttpError({
      reason: "StatusCode",
      request,
      status: response.status,
      detail: body.trim() === "" ? "empty body" : excerptOf(body.trim())
    })
  }
  const errorBody = decoded.right
  // FastAPI's answer to a path it has no route for; Letta's own 404s say what is missing ("Agent with ID … not found").
  // Not a missing agent, then, but a base URL that leads elsewhere (e.g. one ending in an extra path)
  if (response.status === 404 && "detail" in errorBody && errorBody.detail === "Not Found") {
    return new HttpError({
      reason: "StatusCode",
      request,
      status: 404,
      detail: "no such route, so no Letta API at this address: check LETTA_BASE_URL (the server's address, e.g. " +
        "http://localhost:8283 or https://api.letta.com, without /v1)"
    })
  }
  const [detail, errorType] = "error" in errorBody
    ? [
      errorBody.error.detail === undefined || errorBody.error.detail === null
        ? errorBody.error.message
        : `${errorBody.error.message}: ${textOf(errorBody.error.detail)}`,
      errorBody.error.type
    ]
    : [textOf(errorBody.detail), codeOf(errorBody.detail)]
  // a busy conversation's 409 names the run that holds it
  const runId = "run_id" in errorBody && typeof errorBody.run_id === "string" ? errorBody.run_id : undefined
  return new LettaError({
    reason: reasonOf(response.status),
    status: response.status,
    detail,
    request,
    ...(errorType === undefined ? {} : { errorType }),
    ...(runId === undefined ? {} : { runId }),
    ...(ids.agentId === undefined ? {} : { agentId: ids.agentId }),
    ...(ids.conversationId === undefined ? {} : { conversationId: ids.conversationId })
  })
}

/** A schema failure in one line (path, expected, actual), for a `DecodeError`'s detail; the tree is for debug logs. */
export const formatParseError = (error: ParseResult.ParseError): string => SchemaText.describe(error)

/** The whole tree of a schema failure, for the debug log. */
export const parseErrorTree = (error: ParseResult.ParseError): string => ParseResult.TreeFormatter.formatErrorSync(error)

export const invalidJson = (what: string, request: string, input: string, detail = "not valid JSON"): DecodeError =>
  new DecodeError({ reason: "Json", what, request, detail, excerpt: excerptOf(input) })

export const invalidShape = (what: string, request: string, input: string, error: ParseResult.ParseError): DecodeError =>
  new DecodeError({ reason: "Schema", what, request, detail: formatParseError(error), excerpt: excerptOf(input) })

export const frameTooLarge = (request: string, error: EventTooLarge): DecodeError =>
  new DecodeError({ reason: "TooLarge", what: "stream frame", request, detail: error.message })

/** Reads a whole body, bounded by `timeout`; a read failure is a transport error. */
export const readText = (
  response: HttpClientResponse.HttpClientResponse,
  timeout: Duration.Duration
): Effect.Effect<string, HttpError> =>
  response.text.pipe(
    Effect.mapError(fromRequestError),
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => timeoutError(describeRequest(response.request), "idle", timeout)
    })
  )

export const isResponseError = (u: unknown): u is HttpClientError.ResponseError =>
  HttpClientError.isHttpClientError(u) && u._tag === "ResponseError"

export const optionalString = (value: string | null | undefined): Option.Option<string> =>
  value === null || value === undefined || value === "" ? Option.none() : Option.some(value)
