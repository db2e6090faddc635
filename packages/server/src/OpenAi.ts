/**
 * The OpenAI chat-completions wire format, and core's events rendered in it the way Open WebUI shows them best:
 * reasoning as `delta.reasoning_content`, the agent's tool calls and results as `<details type="tool_calls">` blocks in
 * the content (never `delta.tool_calls`, which would make Open WebUI run them again), status as `{"event":…}` chunks,
 * usage in a final `choices: []` chunk, an error as an `{"error":…}` chunk.
 *
 * @since 0.1.0
 */
import { ChatStream, JsonText, PipeRequest, type StreamEvent } from "@letta-pipeline/core"
import { Either, Option, Schema, Stream } from "effect"

// ---------------------------------------------------------------------------------------------------------------------
// requests
// ---------------------------------------------------------------------------------------------------------------------

/** @category schemas */
export const ChatCompletionRequest = Schema.Struct({
  model: Schema.String.pipe(Schema.minLength(1, { message: () => "model must not be empty" })),
  messages: Schema.Array(PipeRequest.ChatMessage).pipe(
    Schema.minItems(1, { message: () => "messages must hold at least one message" })
  ),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  stream_options: Schema.optional(Schema.NullOr(Schema.Struct({ include_usage: Schema.optional(Schema.NullOr(Schema.Boolean)) }))),
  /** Copied here by this server's Pipelines inlet: Open WebUI drops `metadata` before the chat request. */
  chat_id: Schema.optional(Schema.String),
  task: Schema.optional(Schema.String),
  metadata: Schema.optional(Schema.Unknown)
})
/** @category models */
export type ChatCompletionRequest = typeof ChatCompletionRequest.Type

// ---------------------------------------------------------------------------------------------------------------------
// responses
// ---------------------------------------------------------------------------------------------------------------------

/** @category schemas */
export const Usage = Schema.Struct({
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  total_tokens: Schema.Number,
  step_count: Schema.optional(Schema.Number),
  completion_tokens_details: Schema.optional(Schema.Struct({ reasoning_tokens: Schema.Number }))
})
/** @category models */
export type Usage = typeof Usage.Type

const Delta = Schema.Struct({
  role: Schema.optional(Schema.Literal("assistant")),
  content: Schema.optional(Schema.String),
  reasoning_content: Schema.optional(Schema.String)
})

/** @category schemas */
export const Chunk = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("chat.completion.chunk"),
  created: Schema.Number,
  model: Schema.String,
  choices: Schema.Array(Schema.Struct({
    index: Schema.Number,
    delta: Delta,
    finish_reason: Schema.NullOr(Schema.String)
  })),
  usage: Schema.optional(Usage)
})
/** @category models */
export type Chunk = typeof Chunk.Type

/** Open WebUI's event envelope, forwarded to its socket. @category schemas */
export const EventChunk = Schema.Struct({
  event: Schema.Struct({ type: Schema.String, data: Schema.Unknown })
})

/** @category schemas */
export const ErrorBody = Schema.Struct({
  error: Schema.Struct({
    message: Schema.String,
    type: Schema.String,
    param: Schema.NullOr(Schema.String),
    code: Schema.NullOr(Schema.String)
  })
})
/** @category models */
export type ErrorBody = typeof ErrorBody.Type

/** @category schemas */
export const Completion = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("chat.completion"),
  created: Schema.Number,
  model: Schema.String,
  choices: Schema.Array(Schema.Struct({
    index: Schema.Number,
    message: Schema.Struct({
      role: Schema.Literal("assistant"),
      content: Schema.String,
      reasoning_content: Schema.optional(Schema.String)
    }),
    logprobs: Schema.Null,
    finish_reason: Schema.String
  })),
  usage: Usage
})
/** @category models */
export type Completion = typeof Completion.Type

/** Everything a stream can carry in `data:`. @category schemas */
export const StreamData = Schema.parseJson(Schema.Union(Chunk, EventChunk, ErrorBody))
const encodeData = Schema.encodeSync(StreamData)

// ---------------------------------------------------------------------------------------------------------------------
// rendering
// ---------------------------------------------------------------------------------------------------------------------

/** Letta's stop reason as OpenAI's `finish_reason`. @category constructors */
export const finishReason = (stopReason: string | null): string => {
  switch (stopReason) {
    case "max_steps":
    case "max_tokens_exceeded":
    case "context_window_overflow_in_system_prompt":
      return "length"
    default:
      return "stop"
  }
}

const htmlEscape = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/'/g, "&#39;")

const encodeJson = Schema.encodeSync(Schema.parseJson())

/** Valid JSON text re-encoded compactly (no raw newlines); anything else, too deep JSON included, as a JSON string. */
const asJson = (text: string): string =>
  Either.match(JsonText.parse(text), { onLeft: () => encodeJson(text), onRight: encodeJson })

/**
 * Open WebUI's tool block: a call and its result, rendered collapsed ("View Result from name").
 *
 * @category constructors
 */
export const toolBlock = (
  call: { readonly id: string; readonly name: string; readonly arguments: string },
  result: string
): string =>
  `<details type="tool_calls" done="true" id="${htmlEscape(call.id)}" name="${htmlEscape(call.name)}" ` +
  `arguments="${htmlEscape(asJson(call.arguments === "" ? "{}" : call.arguments))}" ` +
  `result="${htmlEscape(encodeJson(result))}" files="" embeds="">\n<summary>Tool Executed</summary>\n</details>\n`

/** What a task reply looks like as content: the JSON its template asks for. */
const titleJson = Schema.encodeSync(Schema.parseJson(Schema.Struct({ title: Schema.String })))

/** @category models */
export interface RenderOptions {
  readonly id: string
  readonly created: number
  readonly model: string
  readonly includeUsage: boolean
  readonly statusEvents: boolean
}

interface RenderState {
  readonly lastMessageId: string | null
  /** Whether the content written so far ends a line (a tool block must start one). */
  readonly atLineStart: boolean
  readonly calls: Readonly<Record<string, StreamEvent.Of<"tool_call">["data"]>>
  readonly usage: Option.Option<Usage>
}

const usageOf = (data: StreamEvent.Of<"usage">["data"]): Usage => ({
  prompt_tokens: data.prompt_tokens,
  completion_tokens: data.completion_tokens,
  total_tokens: data.total_tokens,
  ...(data.step_count === undefined ? {} : { step_count: data.step_count }),
  ...(data.reasoning_tokens === undefined ? {} : { completion_tokens_details: { reasoning_tokens: data.reasoning_tokens } })
})

type Output = typeof Chunk.Type | typeof EventChunk.Type | typeof ErrorBody.Type

const errorType = (error: StreamEvent.Of<"error">["data"]): string =>
  error.error === "LettaError" ? "letta_error" : "upstream_error"

/** The pure renderer both the stream and the whole completion are made from. */
const renderer = (options: RenderOptions) => {
  const chunk = (delta: typeof Delta.Type, finish: string | null = null): typeof Chunk.Type => ({
    id: options.id,
    object: "chat.completion.chunk",
    created: options.created,
    model: options.model,
    choices: [{ index: 0, delta, finish_reason: finish }]
  })

  const content = (state: RenderState, text: string): [RenderState, ReadonlyArray<Output>] => [
    { ...state, atLineStart: text.endsWith("\n") },
    [chunk({ content: text })]
  ]

  const block = (state: RenderState, text: string) => content(state, (state.atLineStart ? "" : "\n") + text)

  const step = (state: RenderState, event: StreamEvent.StreamEvent): [RenderState, ReadonlyArray<Output>] => {
    switch (event.type) {
      case "message": {
        const separator = state.lastMessageId !== null && state.lastMessageId !== event.data.id ? "\n\n" : ""
        return content({ ...state, lastMessageId: event.data.id }, separator + event.data.content)
      }
      case "reasoning":
        return [state, [chunk({ reasoning_content: event.data.content })]]
      case "tool_call": {
        const next = { ...state, calls: { ...state.calls, [event.data.id]: event.data } }
        return event.data.requires_approval
          ? block(next, toolBlock(event.data, "Waiting for approval: approve or deny it in Letta"))
          : [next, []]
      }
      case "tool_result":
        return block(state, toolBlock(state.calls[event.data.id] ?? { ...event.data, arguments: "" }, event.data.output))
      case "status":
        return [
          state,
          options.statusEvents ? [{ event: { type: "status", data: { ...event.data, hidden: false } } }] : []
        ]
      case "title":
        return content(state, titleJson({ title: event.data.title }))
      case "usage":
        return [{ ...state, usage: Option.some(usageOf(event.data)) }, []]
      case "done": {
        const usage: ReadonlyArray<Output> = options.includeUsage
          ? [{
            id: options.id,
            object: "chat.completion.chunk",
            created: options.created,
            model: options.model,
            choices: [],
            usage: Option.getOrElse(state.usage, () => noUsage)
          }]
          : []
        return [state, [chunk({}, finishReason(event.data.stop_reason)), ...usage]]
      }
      case "error":
        return [state, [{
          error: { message: event.data.message, type: errorType(event.data), param: null, code: event.data.reason }
        }]]
    }
  }

  const initial: RenderState = { lastMessageId: null, atLineStart: true, calls: {}, usage: Option.none() }
  return { first: chunk({ role: "assistant", content: "" }), initial, step }
}

const noUsage: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }

/**
 * Core's events as the `data:` payloads of an OpenAI chat-completion stream (without the final `[DONE]`).
 *
 * @category combinators
 */
export const toChunks = (options: RenderOptions) =>
<E, R>(events: Stream.Stream<StreamEvent.StreamEvent, E, R>): Stream.Stream<string, E, R> => {
  const { first, initial, step } = renderer(options)
  return Stream.concat(
    Stream.succeed(first),
    events.pipe(ChatStream.mapAccumConcat(initial, step))
  ).pipe(Stream.map(encodeData))
}

/**
 * A whole turn as one chat completion: the content a stream would have shown (tool blocks included), reasoning in
 * `message.reasoning_content`, usage.
 *
 * @category constructors
 */
export const toCompletion = (
  options: Omit<RenderOptions, "includeUsage" | "statusEvents">,
  events: ReadonlyArray<StreamEvent.StreamEvent>,
  turn: ChatStream.Turn
): Completion => {
  const { initial, step } = renderer({ ...options, includeUsage: false, statusEvents: false })
  let state = initial
  let content = ""
  for (const event of events) {
    const [next, outputs] = step(state, event)
    state = next
    for (const output of outputs) {
      if ("choices" in output) for (const choice of output.choices) content += choice.delta.content ?? ""
    }
  }
  return {
    id: options.id,
    object: "chat.completion",
    created: options.created,
    model: options.model,
    choices: [{
      index: 0,
      message: { role: "assistant", content, ...(turn.reasoning === "" ? {} : { reasoning_content: turn.reasoning }) },
      logprobs: null,
      finish_reason: finishReason(turn.stopReason)
    }],
    usage: Option.getOrElse(state.usage, () => noUsage)
  }
}

/** @category encoding */
export const encodeCompletion = Schema.encodeSync(Schema.parseJson(Completion))
/** @category encoding */
export const encodeError = Schema.encodeSync(Schema.parseJson(ErrorBody))
