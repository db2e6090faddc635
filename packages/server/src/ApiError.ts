/**
 * Failures and how each surface answers them. Handlers fail in the error channel, with core's failures
 * (`LettaError.PipelineError`, `StoreError`) or this module's request errors, and each surface renders them once, at
 * its edge, the surface's route constructor: OpenAI's error body on the OpenAI and native routes
 * ({@link openAiRoute}), FastAPI's `{"detail"}` on the Pipelines routes ({@link pipelinesRoute}); the native streams
 * end in an `error` event instead ({@link toErrorEvent}).
 *
 * @since 0.1.0
 */
import { HttpLayerRouter, HttpServerResponse } from "@effect/platform"
import { LettaError, StreamEvent } from "@letta-pipeline/core"
import { Effect, Schema, Stream } from "effect"
import * as OpenAi from "./OpenAi.js"

/**
 * The body is longer than `PIPELINE_MAX_BODY` (declared, or as it arrives): 413.
 *
 * @category errors
 */
export class BodyTooLarge extends Schema.TaggedError<BodyTooLarge>("@letta-pipeline/server/BodyTooLarge")("BodyTooLarge", {
  /** `PIPELINE_MAX_BODY`, in bytes. */
  maxBytes: Schema.Number
}) {
  override get message(): string {
    return `request body larger than ${this.maxBytes} bytes`
  }
}

/**
 * The body could not be read (the client's connection failed while sending it): 400.
 *
 * @category errors
 */
export class UnreadableBody extends Schema.TaggedError<UnreadableBody>("@letta-pipeline/server/UnreadableBody")(
  "UnreadableBody",
  {}
) {
  override get message(): string {
    return "request body could not be read"
  }
}

/**
 * The body is not JSON, or nests deeper than `JsonText.maxDepth`: 400.
 *
 * @category errors
 */
export class InvalidJson extends Schema.TaggedError<InvalidJson>("@letta-pipeline/server/InvalidJson")("InvalidJson", {
  /** What `JsonText.parse` said, e.g. `not valid JSON`. */
  why: Schema.String
}) {
  override get message(): string {
    return `request body is ${this.why}`
  }
}

/**
 * The body (or a WebSocket message) does not match its schema; `message` names every wrong field, its path and what
 * was expected (`Http.schemaProblem`): 400, and 422 on the Pipelines routes (FastAPI's validation status).
 *
 * @category errors
 */
export class InvalidBody extends Schema.TaggedError<InvalidBody>("@letta-pipeline/server/InvalidBody")("InvalidBody", {
  message: Schema.String
}) {}

/**
 * `GET /v1/ws` without a WebSocket upgrade: 400.
 *
 * @category errors
 */
export class NotWebSocket extends Schema.TaggedError<NotWebSocket>("@letta-pipeline/server/NotWebSocket")("NotWebSocket", {}) {
  override get message(): string {
    return "expected a WebSocket upgrade"
  }
}

/**
 * `PIPELINE_WS_MAX_SOCKETS` are open already: 503, before the upgrade.
 *
 * @category errors
 */
export class TooManySockets extends Schema.TaggedError<TooManySockets>("@letta-pipeline/server/TooManySockets")(
  "TooManySockets",
  { max: Schema.Number }
) {
  override get message(): string {
    return `Too many open WebSockets: at most ${this.max} (PIPELINE_WS_MAX_SOCKETS); try again later`
  }
}

/**
 * A Pipelines route names a pipeline this server is not (neither its id nor a model): 404.
 *
 * @category errors
 */
export class PipelineNotFound extends Schema.TaggedError<PipelineNotFound>("@letta-pipeline/server/PipelineNotFound")(
  "PipelineNotFound",
  { id: Schema.String }
) {
  override get message(): string {
    return `Pipeline ${this.id} not found`
  }
}

/**
 * The request's user cannot be trusted (`ChatUser.fromRequest`): a signed user that does not verify, an unsigned one
 * while verification is on, or a malformed one: 401.
 *
 * @category errors
 */
export class UserRefused extends Schema.TaggedError<UserRefused>("@letta-pipeline/server/UserRefused")("UserRefused", {
  why: Schema.String
}) {
  override get message(): string {
    return `User refused: ${this.why}`
  }
}

/**
 * A `per-user` model was asked without a user, so there is no agent to answer (never the shared one): 400.
 *
 * @category errors
 */
export class UserRequired extends Schema.TaggedError<UserRequired>("@letta-pipeline/server/UserRequired")("UserRequired", {
  model: Schema.String,
  /** What was there instead, for the hint. */
  signedOnly: Schema.Boolean
}) {
  override get message(): string {
    return `The model ${JSON.stringify(this.model)} gives each user their own agent, and this request names no user: ` +
      (this.signedOnly
        ? "send Open WebUI's signed X-OpenWebUI-User-Jwt (PIPELINE_USER_JWT_SECRET is set)"
        : "turn on ENABLE_FORWARD_USER_INFO_HEADERS in Open WebUI, or send X-OpenWebUI-User-Id or a \"user\" field; " +
          "if Open WebUI signs its users (FORWARD_USER_INFO_HEADER_JWT_SECRET), set PIPELINE_USER_JWT_SECRET to the same secret")
  }
}

/** What a request may fail with before any call to Letta. @category errors */
export type RequestError =
  | BodyTooLarge
  | UnreadableBody
  | InvalidJson
  | InvalidBody
  | NotWebSocket
  | TooManySockets
  | PipelineNotFound
  | UserRefused
  | UserRequired

/** Everything a handler may fail with. @category errors */
export type Failure = RequestError | LettaError.PipelineError | LettaError.StoreError

/** An HTTP status and what to say. @category models */
export interface Problem {
  readonly status: number
  readonly message: string
  readonly type: string
  readonly code: string | null
}

/**
 * How a core failure maps to a status: ours (400) and Letta's own refusals pass through, the rest is a gateway error;
 * a store failure is 503 (nothing was sent to the agent).
 */
export const fromPipelineError = (error: LettaError.PipelineError | LettaError.StoreError): Problem => {
  const problem = (status: number, type: string, code: string | null = error.reason): Problem => ({
    status,
    message: LettaError.forUser(error),
    type,
    code
  })
  switch (error._tag) {
    case "StoreError":
      return problem(503, "server_error", "store_unavailable")
    case "DecodeError":
      return problem(502, "upstream_error")
    case "HttpError":
      return error.reason === "Timeout" ? problem(504, "upstream_error") : problem(502, "upstream_error")
    case "LettaError":
      switch (error.reason) {
        case "InvalidId":
        case "InvalidRequest":
        case "Rejected":
          return problem(400, "invalid_request_error")
        case "NotFound":
          return problem(404, "invalid_request_error", "model_not_found")
        case "Conflict":
          return problem(409, "invalid_request_error")
        case "RateLimited":
          return problem(429, "rate_limit_error")
        case "HookRejected":
          return problem(403, "invalid_request_error")
        default:
          // Letta refusing *our* credentials is this server's misconfiguration, not the client's
          return problem(502, "upstream_error")
      }
  }
}

/** The operator's log line of a failure a user was told about in short (`LettaError.forUser`). */
/** Logs a failed turn in full (upstream details included), for the operator. @category logging */
export const logFull = (error: LettaError.PipelineError | LettaError.StoreError) =>
  Effect.logWarning(`Turn failed: ${error.message}`)

/** The `error` event the user sees for a failed turn: the cause in plain words (`LettaError.forUser`). @category constructors */
export const errorEvent = (error: LettaError.PipelineError | LettaError.StoreError): StreamEvent.StreamEvent =>
  StreamEvent.fromError(error, LettaError.forUser)

/**
 * How any failure maps to a status: the request errors as their docs say, core's by {@link fromPipelineError}.
 *
 * @category constructors
 */
export const problemOf = (error: Failure): Problem => {
  switch (error._tag) {
    case "BodyTooLarge":
      return { ...badRequest(error.message, "body_too_large"), status: 413 }
    case "UnreadableBody":
      return badRequest(error.message, "unreadable_body")
    case "InvalidJson":
      return badRequest(error.message, "invalid_json")
    case "InvalidBody":
    case "NotWebSocket":
      return badRequest(error.message)
    case "TooManySockets":
      return { status: 503, message: error.message, type: "server_error", code: "too_many_websockets" }
    case "PipelineNotFound":
      return { status: 404, message: error.message, type: "invalid_request_error", code: "pipeline_not_found" }
    case "UserRefused":
      return { status: 401, message: error.message, type: "invalid_request_error", code: "user_refused" }
    case "UserRequired":
      return badRequest(error.message, "user_required")
    default:
      return fromPipelineError(error)
  }
}

/**
 * {@link problemOf}, with a core failure in full (Letta's URL and own words included) in the log; a request error is
 * the client's own and is not logged.
 *
 * @category constructors
 */
export const report = (error: Failure): Effect.Effect<Problem> => {
  switch (error._tag) {
    case "LettaError":
    case "HttpError":
    case "DecodeError":
    case "StoreError":
      return Effect.as(logFull(error), fromPipelineError(error))
    default:
      return Effect.succeed(problemOf(error))
  }
}

/**
 * Ends a failed stream with an `error` event in the user's words (`LettaError.forUser`), the full failure in the log.
 *
 * @category combinators
 */
export const toErrorEvent = <R>(
  stream: Stream.Stream<StreamEvent.StreamEvent, LettaError.PipelineError | LettaError.StoreError, R>
): Stream.Stream<StreamEvent.StreamEvent, never, R> =>
  stream.pipe(Stream.tapError(logFull), StreamEvent.catchToEventWith(LettaError.forUser))

/**
 * The `error` event of a request the user's rules refused (`UserRefused`: `Unauthorized`, `UserRequired`:
 * `InvalidRequest`), for the native streams, which answer every turn with events.
 *
 * @category constructors
 */
export const userErrorEvent = (error: UserRefused | UserRequired): StreamEvent.StreamEvent => ({
  type: "error",
  data: {
    error: "LettaError",
    reason: error._tag === "UserRefused" ? "Unauthorized" : "InvalidRequest",
    message: error.message,
    status: problemOf(error).status
  }
})

/** @category constructors */
export const badRequest = (message: string, code: string | null = null): Problem => ({
  status: 400,
  message,
  type: "invalid_request_error",
  code
})

/** OpenAI's error body. @category constructors */
export const openAi = (problem: Problem): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(
    OpenAi.encodeError({ error: { message: problem.message, type: problem.type, param: null, code: problem.code } }),
    { status: problem.status, contentType: "application/json" }
  )

const encodeDetail = Schema.encodeSync(Schema.parseJson(Schema.Struct({ detail: Schema.String })))

/** FastAPI's `{"detail": …}`, what Open WebUI reads from a Pipelines server. @category constructors */
export const detail = (status: number, message: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(encodeDetail({ detail: message }), { status, contentType: "application/json" })

/** Both shapes at once, for answers every client may read (auth). @category constructors */
const encodeBoth = Schema.encodeSync(Schema.parseJson(Schema.Struct({ detail: Schema.String, error: OpenAi.ErrorBody.fields.error })))

/** @category constructors */
export const both = (problem: Problem): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(
    encodeBoth({
      detail: problem.message,
      error: { message: problem.message, type: problem.type, param: null, code: problem.code }
    }),
    { status: problem.status, contentType: "application/json" }
  )

/** A route whose handler's failures are answered by `answer`: a surface's edge. */
const answering = (answer: (error: Failure) => Effect.Effect<HttpServerResponse.HttpServerResponse>) =>
<R>(
  method: "GET" | "POST",
  path: HttpLayerRouter.PathInput,
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, Failure, R>
): HttpLayerRouter.Route<never, Exclude<R, HttpLayerRouter.Provided>> =>
  HttpLayerRouter.route(method, path, Effect.catchAll(handler, answer))

/**
 * A route of the OpenAI and native surfaces: every {@link Failure} of its handler as OpenAI's error body with its
 * status ({@link report}: core failures are logged in full). Inside the route's middleware, so that the metrics count
 * the status it sets.
 *
 * @category constructors
 */
export const openAiRoute = answering((error) => Effect.map(report(error), openAi))

/**
 * A route of the Pipelines surface: every {@link Failure} of its handler as FastAPI's `{"detail"}`, a schema failure
 * with FastAPI's 422. Not logged: a refused hook is Open WebUI's answer to its user.
 *
 * @category constructors
 */
export const pipelinesRoute = answering((error) => {
  const problem = problemOf(error)
  return Effect.succeed(detail(error._tag === "InvalidBody" ? 422 : problem.status, problem.message))
})
