/**
 * The three failures that leave core: {@link LettaError} (Letta answered, and said no), {@link HttpError} (Letta could
 * not be reached or did not answer in time) and {@link DecodeError} (Letta answered something this client cannot read).
 * Each carries a `reason` and renders a message a user can act on. URLs in them never carry credentials.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as LettaSchema from "./LettaSchema.js"

const suffix = (parts: ReadonlyArray<string | undefined>): string => {
  const present = parts.filter((part): part is string => part !== undefined && part !== "")
  return present.length === 0 ? "" : ` (${present.join(", ")})`
}

/**
 * What went wrong on the Letta side.
 *
 * - `InvalidId`: an agent, conversation or run id that does not match Letta's patterns (checked before any request).
 * - `InvalidRequest`: the request cannot be sent (no user message, no agent chosen, …).
 * - `Unauthorized` / `Forbidden`: 401 / 403.
 * - `NotFound`: 404 (unknown agent, run, conversation).
 * - `Rejected`: 400 / 422, Letta refused the body.
 * - `Conflict`: 409 (agent busy, approval pending).
 * - `RateLimited`: 429.
 * - `ServerError`: 5xx with a Letta error body.
 * - `StreamError`: an in-band `event: error` during a turn.
 * - `Cancelled`: the run was cancelled (`event: cancelled`).
 * - `Incomplete`: the stream ended before Letta said why it stopped.
 * - `Empty`: the turn ended without any answer (no text, no tool call): never a success.
 * - `RunFailed`: the run stopped for a failing reason (`llm_api_error`, `no_tool_call`, …; see `stopReason`), streamed
 *   or polled alike, even when Letta sent no error event.
 * - `HookRejected`: an inlet/outlet hook refused the request.
 *
 * @category errors
 */
export const LettaErrorReason = Schema.Literal(
  "InvalidId",
  "InvalidRequest",
  "Unauthorized",
  "Forbidden",
  "NotFound",
  "Rejected",
  "Conflict",
  "RateLimited",
  "ServerError",
  "StreamError",
  "Cancelled",
  "Incomplete",
  "Empty",
  "RunFailed",
  "HookRejected"
)
/** @category errors */
export type LettaErrorReason = typeof LettaErrorReason.Type

const hints: Partial<Record<LettaErrorReason, string>> = {
  Unauthorized: "set LETTA_API_KEY (Letta Cloud) or LETTA_PASSWORD (self-hosted --secure)",
  Forbidden: "the credentials lack access to this resource",
  NotFound: "check the agent id (LETTA_AGENT_ID or the model)",
  RateLimited: "wait and try again",
  Conflict: "the agent is busy with another run or waits for an approval"
}

const conversationGone = "the conversation no longer exists in Letta (deleted, or Letta's data restored from an earlier state)"

/**
 * Letta answered, and the answer is an error.
 *
 * @category errors
 */
export class LettaError extends Schema.TaggedError<LettaError>("@letta-pipeline/core/LettaError")("LettaError", {
  reason: LettaErrorReason,
  /** Letta's own words (`detail`, `error.message`, in-band `message`), or ours for local checks. */
  detail: Schema.String,
  status: Schema.optional(Schema.Number),
  /** Letta's `error_type` / `error.type` (e.g. `llm_rate_limit`). */
  errorType: Schema.optional(Schema.String),
  /** Letta's stop reason, when the run said why it stopped (e.g. `llm_api_error`). */
  stopReason: Schema.optional(Schema.String),
  agentId: Schema.optional(Schema.String),
  /** The conversation the failed call was about (never `default`, the agent's own thread). */
  conversationId: Schema.optional(Schema.String),
  runId: Schema.optional(Schema.String),
  /** `METHOD url` of the failed call, credentials removed. */
  request: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const where = suffix([
      this.status === undefined ? undefined : `HTTP ${this.status}`,
      this.request,
      this.agentId === undefined ? undefined : `agent ${this.agentId}`,
      this.conversationId === undefined ? undefined : `conversation ${this.conversationId}`,
      this.runId === undefined ? undefined : `run ${this.runId}`,
      this.stopReason === undefined ? undefined : `stop reason ${this.stopReason}`,
      this.errorType
    ])
    const hint = this.reason === "NotFound" && this.conversationId !== undefined ? conversationGone : hints[this.reason]
    return `Letta ${describe[this.reason]}: ${this.detail}${where}${hint === undefined ? "" : `; ${hint}`}`
  }
}

const describe: Record<LettaErrorReason, string> = {
  InvalidId: "id rejected",
  InvalidRequest: "request not sent",
  Unauthorized: "refused the credentials",
  Forbidden: "denied access",
  NotFound: "could not find it",
  Rejected: "rejected the request",
  Conflict: "reported a conflict",
  RateLimited: "rate limit reached",
  ServerError: "server error",
  StreamError: "reported an error during the turn",
  Cancelled: "cancelled the run",
  Incomplete: "stream ended early",
  Empty: "ended the turn without an answer",
  RunFailed: "run failed",
  HookRejected: "request refused by a hook"
}

const stopReasonWords: ReadonlyMap<string, string> = new Map([
  ["error", "the agent stopped on an error"],
  ["llm_api_error", "the call to the model provider failed (check the provider's key, quota and status in Letta)"],
  ["invalid_llm_response", "the model answered something Letta could not use"],
  ["invalid_tool_call", "the model called a tool in a way Letta could not run"],
  ["no_tool_call", "the model did not call a tool where the agent needed one"],
  ["insufficient_credits", "the Letta account has no credits left"],
  ["context_window_overflow_in_system_prompt", "the agent's system prompt alone overflows the model's context window"],
  ["cancelled", "the run was cancelled before it finished"]
])

/**
 * The failure a stop reason means, by Letta's rule (`LettaSchema.runStatusOf`): a `RunFailed` error for a failed run,
 * `Cancelled` for a cancelled one, none for a completed one. Streamed and polled turns share it.
 *
 * @category constructors
 */
export const fromStopReason = (
  stopReason: string,
  ids: { readonly runId?: string | null | undefined; readonly agentId?: string | undefined } = {}
): LettaError | undefined => {
  const status = LettaSchema.runStatusOf(stopReason)
  if (status === "completed") return undefined
  return new LettaError({
    reason: status === "cancelled" ? "Cancelled" : "RunFailed",
    detail: stopReasonWords.get(stopReason) ?? "the run failed",
    stopReason,
    ...(ids.runId === undefined || ids.runId === null ? {} : { runId: ids.runId }),
    ...(ids.agentId === undefined ? {} : { agentId: ids.agentId })
  })
}

/**
 * Whether Letta said that this conversation does not exist (any more): a 404 on a turn in it (REST), or the App
 * Server's "Conversation … not found". The agent's own 404 is not this.
 *
 * @category refinements
 */
export const isConversationGone = (error: unknown, conversationId: string): error is LettaError =>
  error instanceof LettaError && error.reason === "NotFound" && error.conversationId === conversationId

/**
 * Why Letta could not be talked to.
 *
 * - `Transport`: connection refused, reset, DNS, body read failure.
 * - `Tls`: the certificate was not trusted.
 * - `Timeout`: a timeout elapsed (see `phase`).
 * - `StatusCode`: a non-2xx answer that is not Letta's (e.g. a proxy's 502 page), or FastAPI's bare 404 `Not Found`
 *   for a path it has no route for (the base URL leads elsewhere; never blamed on an agent id).
 *
 * @category errors
 */
export const HttpErrorReason = Schema.Literal("Transport", "Tls", "Timeout", "StatusCode")
/** @category errors */
export type HttpErrorReason = typeof HttpErrorReason.Type

/** Which timeout elapsed. @category errors */
export const TimeoutPhase = Schema.Literal("connect", "first-event", "idle", "turn")
/** @category errors */
export type TimeoutPhase = typeof TimeoutPhase.Type

/**
 * Letta could not be reached, or did not answer in time.
 *
 * @category errors
 */
export class HttpError extends Schema.TaggedError<HttpError>("@letta-pipeline/core/HttpError")("HttpError", {
  reason: HttpErrorReason,
  /** `METHOD url`, credentials removed. */
  request: Schema.String,
  detail: Schema.String,
  status: Schema.optional(Schema.Number),
  phase: Schema.optional(TimeoutPhase),
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    switch (this.reason) {
      case "Timeout":
        return `Letta did not answer in time (${this.phase ?? "request"} timeout, ${this.request}): ${this.detail}`
      case "Tls":
        return `TLS certificate of Letta not trusted (${this.request}): ${this.detail}; ` +
          "set LETTA_CA_FILE to the server's CA, or LETTA_TLS_INSECURE=true to skip verification"
      case "StatusCode":
        return `Unexpected HTTP ${this.status ?? "status"} from ${this.request}: ${this.detail}`
      case "Transport":
        return `Cannot reach Letta (${this.request}): ${this.detail}`
    }
  }
}

/**
 * Why an answer could not be read.
 *
 * - `Json`: not JSON, or JSON nested deeper than any Letta payload (128 levels).
 * - `Schema`: JSON of the wrong shape (a malformed known message type, a body missing required keys).
 * - `TooLarge`: a stream frame above the size limit.
 * - `ContentType`: a stream answered with something else than `text/event-stream`.
 *
 * @category errors
 */
export const DecodeErrorReason = Schema.Literal("Json", "Schema", "TooLarge", "ContentType")
/** @category errors */
export type DecodeErrorReason = typeof DecodeErrorReason.Type

/**
 * Letta answered something this client cannot read: a malformed frame, body or event.
 *
 * @category errors
 */
export class DecodeError extends Schema.TaggedError<DecodeError>("@letta-pipeline/core/DecodeError")("DecodeError", {
  reason: DecodeErrorReason,
  /** What was being decoded, e.g. `stream event`, `agent list`. */
  what: Schema.String,
  detail: Schema.String,
  /** The start of the offending input. */
  excerpt: Schema.optional(Schema.String),
  request: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const excerpt = this.excerpt === undefined ? "" : ` in ${JSON.stringify(this.excerpt)}`
    return `Cannot decode the ${this.what} from Letta${suffix([this.request])}: ${this.detail}${excerpt}`
  }
}

/**
 * Why the chat → conversation store failed.
 *
 * - `Unavailable`: the database cannot be reached or refused the statement.
 * - `Timeout`: another replica claimed the chat and never recorded its conversation.
 *
 * @category errors
 */
export const StoreErrorReason = Schema.Literal("Unavailable", "Timeout")

/**
 * The conversation store failed. Nothing is sent to Letta then: a turn in the wrong thread is worse than no turn.
 *
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>("@letta-pipeline/core/StoreError")("StoreError", {
  reason: StoreErrorReason,
  /** `sqlite`, `postgres`. */
  store: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `Conversation store (${this.store}) ${this.reason === "Timeout" ? "timed out" : "unavailable"}: ${this.detail}` +
      "; nothing was sent to the agent"
  }
}

/**
 * Every failure core can produce.
 *
 * @category errors
 */
export type PipelineError = LettaError | HttpError | DecodeError

/** @category errors */
export const PipelineError = Schema.Union(LettaError, HttpError, DecodeError)

/** Limit excerpts so a huge frame does not end up whole in a log line. @category constructors */
export const excerptOf = (input: string, max = 200): string =>
  input.length <= max ? input : `${input.slice(0, max)}… (${input.length} chars)`

// ---------------------------------------------------------------------------------------------------------------------
// what a chat user is told
// ---------------------------------------------------------------------------------------------------------------------

/** Letta's in-band `error_type`s in words (letta-rest-api: `error_message.error_type`). */
const errorTypeWords: ReadonlyMap<string, string> = new Map([
  ["llm_timeout", "the model provider did not answer in time"],
  ["llm_rate_limit", "the model provider's rate limit was reached; wait and try again"],
  ["llm_authentication", "the model provider refused Letta's credentials"],
  ["llm_empty_response", "the model answered nothing"],
  ["llm_error", "the call to the model provider failed"],
  ["internal_error", "Letta had an internal error"],
  ["stream_incomplete", "Letta's stream ended early"],
  ["context_window_overflow_in_system_prompt", "the agent's system prompt alone overflows the model's context window"]
])

/** Node's and undici's connection error codes in words; anything else is just "no connection". */
const transportWords = (detail: string): string => {
  const codes: ReadonlyArray<readonly [RegExp, string]> = [
    [/ECONNREFUSED/, "the connection was refused"],
    [/ECONNRESET|UND_ERR_SOCKET|EPIPE|closed the socket|other side closed/i, "the connection was closed"],
    [/ENOTFOUND|EAI_AGAIN/, "its host name does not resolve"],
    [/ETIMEDOUT|EHOSTUNREACH|ENETUNREACH/, "its address cannot be reached"],
    [/refused the bearer token/, "it refused the bridge's credentials"]
  ]
  return codes.find(([pattern]) => pattern.test(detail))?.[1] ?? "no connection could be made"
}

const decodeWords: Record<DecodeErrorReason, string> = {
  Json: "not valid JSON",
  Schema: "not of the shape Letta's API describes",
  TooLarge: "larger than the bridge accepts",
  ContentType: "not an event stream"
}

const idsOf = (error: LettaError): ReadonlyArray<string | undefined> => [
  error.agentId === undefined ? undefined : `agent ${error.agentId}`,
  error.conversationId === undefined ? undefined : `conversation ${error.conversationId}`,
  error.runId === undefined ? undefined : `run ${error.runId}`
]

const httpForUser = (error: HttpError): string => {
  switch (error.reason) {
    case "Timeout":
      return `Letta did not answer in time (${error.phase ?? "request"} timeout)`
    case "Tls":
      return "Letta's TLS certificate is not trusted by the bridge"
    case "StatusCode":
      return error.status === 404
        ? "The bridge's Letta address leads to no Letta API (HTTP 404): its LETTA_BASE_URL needs attention"
        : `The way to Letta answered HTTP ${error.status ?? "with an error"} instead of Letta`
    case "Transport":
      return `Cannot reach Letta: ${transportWords(error.detail)}`
  }
}

const lettaForUser = (error: LettaError): string => {
  const where = suffix(idsOf(error))
  // no call made, no in-band report: the words are this project's own (a rejected id, a model not offered, …)
  const ours = error.request === undefined && error.reason !== "StreamError"
  if (ours) {
    return `Letta ${describe[error.reason]}: ${error.detail}` +
      suffix([...idsOf(error), error.stopReason === undefined ? undefined : `stop reason ${error.stopReason}`])
  }
  switch (error.reason) {
    // this project's own words
    case "InvalidId":
    case "InvalidRequest":
    case "Cancelled":
    case "Incomplete":
    case "Empty":
    case "RunFailed":
    case "HookRejected":
      return `Letta ${describe[error.reason]}: ${error.detail}` +
        suffix([...idsOf(error), error.stopReason === undefined ? undefined : `stop reason ${error.stopReason}`])
    case "StreamError":
      return `Letta reported an error during the turn: ${
        (error.errorType === undefined ? undefined : errorTypeWords.get(error.errorType)) ?? "the agent's step failed"
      }${where}`
    case "NotFound":
      return `Letta could not find it${where}; ${
        error.conversationId === undefined ? "the agent may have been deleted" : conversationGone
      }`
    case "Unauthorized":
    case "Forbidden":
      return `Letta ${describe[error.reason]}${where}: the bridge's Letta credentials need attention`
    case "Rejected":
    case "ServerError":
      return `Letta ${describe[error.reason]}${error.status === undefined ? "" : ` (HTTP ${error.status})`}${where}`
    case "Conflict":
    case "RateLimited":
      return `Letta ${describe[error.reason]}${error.status === undefined ? "" : ` (HTTP ${error.status})`}${where}: ${
        hints[error.reason] ?? "try again"
      }`
  }
}

/**
 * What a chat user is told about a failure: the cause in plain words and the ids that find it in the logs, never an
 * internal address (Letta's URL, a host:port in a socket error) nor Letta's own free text (an error body can hold a
 * traceback or a database URL). The full `message` is for the operator's log. Reasons whose words are this
 * project's own (a rejected id, a failed run's stop reason, an empty turn, a hook's refusal) keep them.
 *
 * @category accessors
 */
export const forUser = (error: PipelineError | StoreError): string =>
  error._tag === "StoreError"
    ? `The bridge's conversation store is ${error.reason === "Timeout" ? "not answering in time" : "unavailable"}; nothing was sent to the agent`
    : error._tag === "DecodeError"
    ? `Letta answered something the bridge cannot read: the ${error.what} is ${decodeWords[error.reason]}`
    : error._tag === "HttpError"
    ? httpForUser(error)
    : lettaForUser(error)
