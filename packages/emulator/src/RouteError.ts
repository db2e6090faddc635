/**
 * What a route answers when it refuses a request, as tagged errors in the error channel, and the one place that writes
 * them as Letta does: FastAPI's `{"detail": …}` (its `HTTPException`), pydantic's 422 (`Wire.validationError`), and
 * the `{"error": {…}}` body of a failed LLM call.
 *
 * @since 0.1.0
 */
import type { HttpServerResponse } from "@effect/platform"
import { Data, ParseResult, Predicate } from "effect"
import * as Wire from "./Wire.js"

/** @category type ids */
export const TypeId: unique symbol = Symbol.for("@letta-pipeline/emulator/RouteError")

/** @category type ids */
export type TypeId = typeof TypeId

/** `404 {"detail": "<Resource> with ID <id> not found"}`. @category errors */
export class NotFound extends Data.TaggedError("NotFound")<{
  readonly resource: "Agent" | "Conversation" | "Run" | "Identity" | "Tool"
  readonly id: string
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message() {
    return `${this.resource} with ID ${this.id} not found`
  }
}

/** A check of Letta's own, answered `{"detail": …}` with its status (400, 409 or 422). @category errors */
export class Refused extends Data.TaggedError("Refused")<{
  readonly status: 400 | 409 | 422
  readonly detail: string
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message() {
    return this.detail
  }
}

/** `409` for a conversation a run still holds: the detail and that run's id. @category errors */
export class ConversationBusy extends Data.TaggedError("ConversationBusy")<{
  readonly conversationId: string
  readonly runId: string
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message() {
    return `Cannot process a new message: conversation ${this.conversationId} is busy with run ${this.runId}; ` +
      "try again once it has finished"
  }
}

/** `401 {"detail": "Unauthorized"}`: a `--secure` server without the password. @category errors */
export class Unauthorized extends Data.TaggedError("Unauthorized")<{}> {
  readonly [TypeId]: TypeId = TypeId
  override get message() {
    return "Unauthorized"
  }
}

/** pydantic's 422: the request (body, path or query) does not match its schema. @category errors */
export class ValidationFailed extends Data.TaggedError("ValidationFailed")<{
  readonly issues: ReadonlyArray<Wire.ValidationIssue>
  /** Example values, which Letta adds for a malformed path id. */
  readonly examples?: ReadonlyArray<string> | undefined
}> {
  readonly [TypeId]: TypeId = TypeId
  override get message() {
    return this.issues.map((issue) => `${issue.loc.join(".")}: ${issue.msg}`).join("; ")
  }

  /** A body that is not JSON. */
  static readonly invalidJson = () =>
    new ValidationFailed({ issues: [{ type: "json_invalid", loc: ["body", 0], msg: "JSON decode error", input: {} }] })

  /** Every problem of a body that `Schema` refused, as pydantic names them. */
  static readonly fromParseError = (error: ParseResult.ParseError, input: unknown) =>
    new ValidationFailed({
      issues: ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({
        type: issue._tag === "Missing" ? "missing" : "value_error",
        loc: ["body", ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p))],
        msg: issue._tag === "Missing" ? "Field required" : issue.message,
        input
      }))
    })

  /** A query parameter that is required and absent. */
  static readonly missingQuery = (name: string) =>
    new ValidationFailed({ issues: [{ type: "missing", loc: ["query", name], msg: "Field required", input: null }] })

  /** A path (or query) id that does not match Letta's `<prefix>-{uuid4}` pattern. */
  static readonly pathId = (param: string, prefix: keyof typeof exampleIds, input: string) =>
    new ValidationFailed({
      issues: [{
        type: "string_pattern_mismatch",
        loc: ["path", param],
        msg: `String should match pattern '${prefix}-{uuid4}'`,
        input
      }],
      examples: [exampleIds[prefix]]
    })
}

const exampleIds = {
  agent: "agent-123e4567-e89b-42d3-8456-426614174000",
  conv: "conv-123e4567-e89b-42d3-8456-426614174000",
  run: "run-123e4567-e89b-42d3-8456-426614174000",
  identity: "identity-123e4567-e89b-42d3-8456-426614174000"
} as const

/** A `status:<code>` fault: that status with `{"detail": "Emulated failure (fault status:<code>)"}`. @category errors */
export class EmulatedFailure extends Data.TaggedError("EmulatedFailure")<{ readonly status: number }> {
  readonly [TypeId]: TypeId = TypeId
  override get message() {
    return `Emulated failure (fault status:${this.status})`
  }
}

/**
 * A blocking turn whose LLM call failed (the `llm-error` fault): `500 {"error": {…}}`, as Letta answers.
 *
 * @category errors
 */
export class LlmFailure extends Data.TaggedError("LlmFailure")<{}> {
  readonly [TypeId]: TypeId = TypeId
  override get message() {
    return "An error occurred with the LLM request."
  }
}

/** @category errors */
export type RouteError =
  | NotFound
  | Refused
  | ConversationBusy
  | Unauthorized
  | ValidationFailed
  | EmulatedFailure
  | LlmFailure

/** @category guards */
export const isRouteError = (u: unknown): u is RouteError => Predicate.hasProperty(u, TypeId)

/**
 * The answer Letta gives for an error: the one mapping from errors to status codes and bodies.
 *
 * @category encoding
 */
export const toResponse = (error: RouteError): HttpServerResponse.HttpServerResponse => {
  switch (error._tag) {
    case "NotFound":
    case "Unauthorized":
      return Wire.detail(error._tag === "NotFound" ? 404 : 401, error.message)
    case "Refused":
      return Wire.detail(error.status, error.detail)
    case "EmulatedFailure":
      return Wire.detail(error.status, error.message)
    case "ConversationBusy":
      return Wire.jsonResponse({ detail: error.message, run_id: error.runId }, 409)
    case "ValidationFailed":
      return Wire.validationError(error.issues, error.examples)
    case "LlmFailure":
      return Wire.jsonResponse({
        error: { type: "llm_error", message: error.message, detail: "Emulated LLM failure" }
      }, 500)
  }
}
