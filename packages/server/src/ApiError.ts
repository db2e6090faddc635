/**
 * Failures as HTTP answers: OpenAI's error body on the OpenAI routes, FastAPI's `{"detail"}` on the Pipelines routes.
 *
 * @since 0.1.0
 */
import { HttpServerResponse } from "@effect/platform"
import { LettaError, StreamEvent } from "@letta-pipeline/core"
import { Effect, Schema, Stream } from "effect"
import * as OpenAi from "./OpenAi.js"

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
const logFull = (error: LettaError.PipelineError | LettaError.StoreError) =>
  Effect.logWarning(`Turn failed: ${error.message}`)

/**
 * {@link fromPipelineError}, with the full failure (Letta's URL and own words included) in the log.
 *
 * @category constructors
 */
export const report = (error: LettaError.PipelineError | LettaError.StoreError): Effect.Effect<Problem> =>
  Effect.as(logFull(error), fromPipelineError(error))

/**
 * Ends a failed stream with an `error` event in the user's words (`LettaError.forUser`), the full failure in the log.
 *
 * @category combinators
 */
export const toErrorEvent = <R>(
  stream: Stream.Stream<StreamEvent.StreamEvent, LettaError.PipelineError | LettaError.StoreError, R>
): Stream.Stream<StreamEvent.StreamEvent, never, R> =>
  stream.pipe(Stream.tapError(logFull), StreamEvent.catchToEventWith(LettaError.forUser))

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
