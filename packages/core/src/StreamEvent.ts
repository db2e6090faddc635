/**
 * What a chat turn looks like to its consumers: the seed's `{type, data}` event, as a decoded tagged union.
 *
 * The names follow Open WebUI's events (`status`, `message` appends content, `chat:title`), so a transport maps them
 * one to one. Text and reasoning arrive as deltas; a tool call arrives once its arguments are complete, its result when
 * Letta has run it. `done` is the last event of a successful turn; `error` the last of a failed one when a transport
 * turns failures into events ({@link catchToEvent}).
 *
 * | type | data | example |
 * |---|---|---|
 * | `status` | `{description, done}` | `{"type":"status","data":{"description":"Running web_search…","done":false}}` |
 * | `reasoning` | `{id, content}` delta | `{"type":"reasoning","data":{"id":"7e0f…5700","content":"The user"}}` |
 * | `message` | `{id, content}` delta | `{"type":"message","data":{"id":"7e0f…5701","content":"Hello"}}` |
 * | `tool_call` | `{id, name, arguments, requires_approval}` | `{"type":"tool_call","data":{"id":"call_1","name":"web_search","arguments":"{\"query\":\"x\"}","requires_approval":false}}` |
 * | `tool_result` | `{id, name, status, output}`; `status` is `success`, `error` or `not_run` | `{"type":"tool_result","data":{"id":"call_1","name":"web_search","status":"success","output":"3 results"}}` |
 * | `usage` | token counts | `{"type":"usage","data":{"prompt_tokens":2310,"completion_tokens":42,"total_tokens":2352,"step_count":1}}` |
 * | `title` | `{title}` | `{"type":"title","data":{"title":"Trip to Lisbon"}}` |
 * | `done` | `{stop_reason, run_id}` | `{"type":"done","data":{"stop_reason":"end_turn","run_id":"run-1b2c…"}}` |
 * | `error` | `{error, reason, message}` | `{"type":"error","data":{"error":"HttpError","reason":"Timeout","message":"Letta did not answer in time …"}}` |
 *
 * `id` of `reasoning` and `message` deltas names the message they belong to (Letta's `otid`): deltas with one id make
 * one message, a new id starts a new one.
 *
 * @example
 * ```ts
 * import { type Pipeline, StreamEvent } from "@letta-pipeline/core"
 * import { Console, Effect, Schema, Stream } from "effect"
 *
 * // a turn as JSON lines, a failure included as a final `error` event
 * export const jsonLines = (pipeline: Pipeline.Service): Effect.Effect<void> =>
 *   pipeline.pipe({ messages: [{ role: "user", content: "Hello" }], body: {} }).pipe(
 *     StreamEvent.catchToEvent,
 *     Stream.mapEffect((event) => Schema.encode(StreamEvent.StreamEventJson)(event)),
 *     Stream.runForEach((line) => Console.log(line)),
 *     Effect.orDie // encoding a decoded event does not fail
 *   )
 * ```
 *
 * @example
 * ```ts
 * import { StreamEvent } from "@letta-pipeline/core"
 *
 * // narrowing by `type`
 * export const text = (event: StreamEvent.StreamEvent): string =>
 *   event.type === "message" || event.type === "reasoning" ? event.data.content : ""
 * ```
 *
 * @since 0.1.0
 */
import { Schema, Stream } from "effect"
import type { PipelineError, StoreError } from "./LettaError.js"

/** @category schemas */
export const Status = Schema.Struct({
  type: Schema.Literal("status"),
  data: Schema.Struct({ description: Schema.String, done: Schema.Boolean })
})

/** @category schemas */
export const Reasoning = Schema.Struct({
  type: Schema.Literal("reasoning"),
  data: Schema.Struct({ id: Schema.String, content: Schema.String })
})

/** @category schemas */
export const Message = Schema.Struct({
  type: Schema.Literal("message"),
  data: Schema.Struct({ id: Schema.String, content: Schema.String })
})

/** @category schemas */
export const ToolCall = Schema.Struct({
  type: Schema.Literal("tool_call"),
  data: Schema.Struct({
    id: Schema.String,
    name: Schema.String,
    /** JSON text, as the model wrote it. */
    arguments: Schema.String,
    /** Letta stopped to ask a client to approve (or run) this call. */
    requires_approval: Schema.Boolean
  })
})

/** @category schemas */
export const ToolResult = Schema.Struct({
  type: Schema.Literal("tool_result"),
  data: Schema.Struct({
    id: Schema.String,
    name: Schema.String,
    /** `not_run`: the turn ended before Letta returned a result for the call. */
    status: Schema.Literal("success", "error", "not_run"),
    output: Schema.String
  })
})

/** @category schemas */
export const Usage = Schema.Struct({
  type: Schema.Literal("usage"),
  data: Schema.Struct({
    prompt_tokens: Schema.Number,
    completion_tokens: Schema.Number,
    total_tokens: Schema.Number,
    step_count: Schema.optional(Schema.Number),
    reasoning_tokens: Schema.optional(Schema.Number),
    cached_input_tokens: Schema.optional(Schema.Number)
  })
})

/** @category schemas */
export const Title = Schema.Struct({
  type: Schema.Literal("title"),
  data: Schema.Struct({ title: Schema.String })
})

/** @category schemas */
export const Done = Schema.Struct({
  type: Schema.Literal("done"),
  data: Schema.Struct({
    /** Letta's stop reason (`end_turn`, `max_steps`, `requires_approval`, …); null when Letta sent none. */
    stop_reason: Schema.NullOr(Schema.String),
    run_id: Schema.NullOr(Schema.String)
  })
})

/** @category schemas */
export const ErrorEvent = Schema.Struct({
  type: Schema.Literal("error"),
  data: Schema.Struct({
    /** The error class: `LettaError`, `HttpError` or `DecodeError`. */
    error: Schema.Literal("LettaError", "HttpError", "DecodeError", "StoreError"),
    reason: Schema.String,
    message: Schema.String,
    status: Schema.optional(Schema.Number)
  })
})

/**
 * Every event of a turn.
 *
 * @category schemas
 */
export const StreamEvent = Schema.Union(Status, Reasoning, Message, ToolCall, ToolResult, Usage, Title, Done, ErrorEvent)
/** @category models */
export type StreamEvent = typeof StreamEvent.Type
/** @category models */
export type Type = StreamEvent["type"]
/** @category models */
export type Of<T extends Type> = Extract<StreamEvent, { readonly type: T }>

/** The event as JSON text, e.g. for an SSE `data:` line. @category schemas */
export const StreamEventJson = Schema.parseJson(StreamEvent)

// ---------------------------------------------------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------------------------------------------------

/** @category constructors */
export const status = (description: string, done: boolean): Of<"status"> => ({
  type: "status",
  data: { description, done }
})

/** @category constructors */
export const reasoning = (id: string, content: string): Of<"reasoning"> => ({ type: "reasoning", data: { id, content } })

/** @category constructors */
export const message = (id: string, content: string): Of<"message"> => ({ type: "message", data: { id, content } })

/** @category constructors */
export const toolCall = (data: Of<"tool_call">["data"]): Of<"tool_call"> => ({ type: "tool_call", data })

/** @category constructors */
export const toolResult = (data: Of<"tool_result">["data"]): Of<"tool_result"> => ({ type: "tool_result", data })

/** @category constructors */
export const usage = (data: Of<"usage">["data"]): Of<"usage"> => ({ type: "usage", data })

/** @category constructors */
export const title = (text: string): Of<"title"> => ({ type: "title", data: { title: text } })

/** @category constructors */
export const done = (stopReason: string | null, runId: string | null): Of<"done"> => ({
  type: "done",
  data: { stop_reason: stopReason, run_id: runId }
})

/**
 * The `error` event of a failure; its `message` is the full one (for the operator) unless `render` says otherwise (a
 * server shows its users `LettaError.forUser`).
 *
 * @category constructors
 */
export const fromError = (
  error: PipelineError | StoreError,
  render: (error: PipelineError | StoreError) => string = (e) => e.message
): Of<"error"> => ({
  type: "error",
  data: {
    error: error._tag,
    reason: error.reason,
    message: render(error),
    ...((error._tag === "LettaError" || error._tag === "HttpError") && error.status !== undefined
      ? { status: error.status }
      : {})
  }
})

/**
 * Ends a failed stream with an `error` event instead of a failure, for transports that cannot fail once they have
 * started answering (SSE, WebSocket, Open WebUI).
 *
 * @category combinators
 */
export const catchToEvent = <R>(
  stream: Stream.Stream<StreamEvent, PipelineError | StoreError, R>
): Stream.Stream<StreamEvent, never, R> => Stream.catchAll(stream, (error) => Stream.succeed(fromError(error)))

/**
 * {@link catchToEvent} with the event's message rendered by `render` (e.g. `LettaError.forUser` for chat users).
 *
 * @category combinators
 */
export const catchToEventWith = (render: (error: PipelineError | StoreError) => string) =>
<R>(stream: Stream.Stream<StreamEvent, PipelineError | StoreError, R>): Stream.Stream<StreamEvent, never, R> =>
  Stream.catchAll(stream, (error) => Stream.succeed(fromError(error, render)))
