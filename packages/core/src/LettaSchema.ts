/**
 * Wire schemas of the Letta REST API: ids, the streamed message union, request and response bodies.
 *
 * Field names are exactly as on the wire (snake_case). Nullable wire fields are `NullOr`, fields that some servers
 * omit are `optional`. The message union decodes an unknown `message_type` to {@link UnknownMessage} (forward
 * compatible). {@link decodeMessage}, the decoder of every stream frame, is strict only about what the bridge reads
 * (content, the ids that group deltas, tool-call fields, stop reasons, usage): an odd value in a field it never reads
 * is dropped, and a malformed message of a type it passes over (pings, user and system messages, …) becomes the
 * lossless unknown variant, so neither ever fails a turn.
 *
 * @since 0.1.0
 */
import { Either, type ParseResult, Schema } from "effect"

const uuid4 = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
const uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

const optionalNullable = <S extends Schema.Schema.Any>(schema: S) => Schema.optional(Schema.NullOr(schema))

// ---------------------------------------------------------------------------------------------------------------------
// ids
// ---------------------------------------------------------------------------------------------------------------------

/**
 * An agent id: classic `agent-<uuid4>` (Letta Cloud, REST server) or App Server `agent-local-<uuid>`.
 * Checked before any URL is built, so a path can never be smuggled into a request.
 *
 * @category schemas
 */
export const AgentId = Schema.String.pipe(
  Schema.pattern(new RegExp(`^agent-(?:${uuid4}|local-${uuid})$`), {
    message: () => "expected agent-<uuid4> (or agent-local-<uuid>)"
  }),
  Schema.brand("AgentId")
)
/** @category models */
export type AgentId = typeof AgentId.Type

/**
 * A conversation id: classic `conv-<uuid4>`, App Server `local-conv-<n>`, or `default` (the agent's own thread).
 *
 * @category schemas
 */
export const ConversationId = Schema.String.pipe(
  Schema.pattern(new RegExp(`^(?:conv-${uuid4}|local-conv-\\d{1,15}|default)$`), {
    message: () => "expected conv-<uuid4>, local-conv-<n> or default"
  }),
  Schema.brand("ConversationId")
)
/** @category models */
export type ConversationId = typeof ConversationId.Type

/**
 * A run id: classic `run-<uuid4>` or App Server `local-run-<n>`.
 *
 * @category schemas
 */
export const RunId = Schema.String.pipe(
  Schema.pattern(new RegExp(`^(?:run-${uuid4}|local-run-\\d{1,15})$`), {
    message: () => "expected run-<uuid4> or local-run-<n>"
  }),
  Schema.brand("RunId")
)
/** @category models */
export type RunId = typeof RunId.Type

// ---------------------------------------------------------------------------------------------------------------------
// content parts
// ---------------------------------------------------------------------------------------------------------------------

/** @category schemas */
export const TextContent = Schema.Struct({
  type: Schema.optional(Schema.Literal("text")),
  text: Schema.String,
  signature: optionalNullable(Schema.String)
})

/** @category schemas */
export const ImageSource = Schema.Union(
  Schema.Struct({ type: Schema.Literal("url"), url: Schema.String }),
  Schema.Struct({
    type: Schema.Literal("base64"),
    media_type: Schema.String,
    data: Schema.String,
    detail: optionalNullable(Schema.String)
  }),
  Schema.Struct({ type: Schema.Literal("letta"), file_id: Schema.String })
)

/** @category schemas */
export const ImageContent = Schema.Struct({ type: Schema.Literal("image"), source: ImageSource })

/** A part of a user message. @category schemas */
export const UserContentPart = Schema.Union(TextContent, ImageContent)
/** @category models */
export type UserContentPart = typeof UserContentPart.Type

// ---------------------------------------------------------------------------------------------------------------------
// streamed / listed messages
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Keys every `LettaMessage` carries, in Letta's serialisation order (App Server frames omit most of them), so that
 * encoding through these schemas writes keys as Letta does.
 */
const messageFields = <T extends string>(messageType: T) => ({
  // optional: a keepalive `ping` may come without them, and the bridge needs neither
  id: Schema.optional(Schema.String),
  date: Schema.optional(Schema.String),
  name: optionalNullable(Schema.String),
  message_type: Schema.Literal(messageType),
  otid: optionalNullable(Schema.String),
  sender_id: optionalNullable(Schema.String),
  step_id: optionalNullable(Schema.String),
  is_err: optionalNullable(Schema.Boolean),
  seq_id: optionalNullable(Schema.Number),
  run_id: optionalNullable(Schema.String)
})

/** @category schemas */
export const SystemMessage = Schema.Struct({
  ...messageFields("system_message"),
  content: Schema.String
})

/** @category schemas */
export const UserMessage = Schema.Struct({
  ...messageFields("user_message"),
  content: Schema.Union(Schema.String, Schema.Array(UserContentPart))
})

/** @category schemas */
export const ReasoningMessage = Schema.Struct({
  ...messageFields("reasoning_message"),
  source: optionalNullable(Schema.Literal("reasoner_model", "non_reasoner_model")),
  reasoning: Schema.String,
  signature: optionalNullable(Schema.String)
})

/** @category schemas */
export const HiddenReasoningMessage = Schema.Struct({
  ...messageFields("hidden_reasoning_message"),
  state: Schema.Literal("redacted", "omitted"),
  hidden_reasoning: optionalNullable(Schema.String)
})

/** @category schemas */
export const AssistantMessage = Schema.Struct({
  ...messageFields("assistant_message"),
  content: Schema.Union(Schema.String, Schema.Array(TextContent))
})

/**
 * A tool call. In step mode a complete `{name, arguments, tool_call_id}`; in token mode a delta holding only the keys
 * present in this fragment (`arguments` is a fragment of a JSON string).
 *
 * @category schemas
 */
export const ToolCallDelta = Schema.Struct({
  name: optionalNullable(Schema.String),
  arguments: optionalNullable(Schema.String),
  tool_call_id: optionalNullable(Schema.String)
})
/** @category models */
export type ToolCallDelta = typeof ToolCallDelta.Type

const toolCallFields = {
  tool_call: optionalNullable(ToolCallDelta),
  tool_calls: optionalNullable(Schema.Union(Schema.Array(ToolCallDelta), ToolCallDelta))
}

/** @category schemas */
export const ToolCallMessage = Schema.Struct({
  ...messageFields("tool_call_message"),
  ...toolCallFields
})

/** @category schemas */
export const ToolReturnStatus = Schema.Literal("success", "error")

/** @category schemas */
export const ToolReturn = Schema.Struct({
  type: Schema.optional(Schema.Literal("tool")),
  tool_return: Schema.Union(Schema.String, Schema.Array(Schema.Unknown)),
  status: ToolReturnStatus,
  tool_call_id: Schema.String,
  stdout: optionalNullable(Schema.Array(Schema.String)),
  stderr: optionalNullable(Schema.Array(Schema.String))
})
/** @category models */
export type ToolReturn = typeof ToolReturn.Type

/** @category schemas */
export const ToolReturnMessage = Schema.Struct({
  ...messageFields("tool_return_message"),
  tool_return: Schema.String,
  status: ToolReturnStatus,
  tool_call_id: Schema.String,
  stdout: optionalNullable(Schema.Array(Schema.String)),
  stderr: optionalNullable(Schema.Array(Schema.String)),
  tool_returns: optionalNullable(Schema.Array(ToolReturn))
})

/** @category schemas */
export const ApprovalRequestMessage = Schema.Struct({
  ...messageFields("approval_request_message"),
  ...toolCallFields
})

/** @category schemas */
export const ApprovalResponseMessage = Schema.Struct({
  ...messageFields("approval_response_message"),
  approvals: optionalNullable(Schema.Array(Schema.Unknown)),
  approve: optionalNullable(Schema.Boolean),
  approval_request_id: optionalNullable(Schema.String),
  reason: optionalNullable(Schema.String)
})

/** @category schemas */
export const SummaryMessage = Schema.Struct({
  ...messageFields("summary_message"),
  summary: Schema.String
})

/** @category schemas */
export const EventMessage = Schema.Struct({
  ...messageFields("event_message"),
  event_type: Schema.String,
  event_data: Schema.optional(Schema.Unknown)
})

/** Keepalive; the first one of a stream carries the `run_id`. @category schemas */
export const Ping = Schema.Struct(messageFields("ping"))

/**
 * Stop reasons documented by Letta (`StopReasonType`; the wire field stays an open string).
 *
 * @category schemas
 */
export const KnownStopReason = Schema.Literal(
  "end_turn",
  "error",
  "llm_api_error",
  "invalid_llm_response",
  "invalid_tool_call",
  "max_steps",
  "max_tokens_exceeded",
  "no_tool_call",
  "tool_rule",
  "cancelled",
  "insufficient_credits",
  "requires_approval",
  "context_window_overflow_in_system_prompt"
)
/** @category models */
export type KnownStopReason = typeof KnownStopReason.Type

const failedStopReasons: ReadonlySet<string> = new Set<KnownStopReason>([
  "error",
  "llm_api_error",
  "invalid_llm_response",
  "invalid_tool_call",
  "no_tool_call",
  "insufficient_credits",
  "context_window_overflow_in_system_prompt"
])

/**
 * How a run that stopped for this reason ended, by Letta's own rule (`StopReasonType.run_status`,
 * `letta/schemas/letta_stop_reason.py`): `end_turn`, `max_steps`, `tool_rule`, `requires_approval` (and reasons this
 * version does not know) completed; `cancelled` was cancelled; the rest failed.
 *
 * @category accessors
 */
export const runStatusOf = (stopReason: string): "completed" | "failed" | "cancelled" =>
  stopReason === "cancelled" ? "cancelled" : failedStopReasons.has(stopReason) ? "failed" : "completed"

/** @category schemas */
export const StopReason = Schema.Struct({
  message_type: Schema.Literal("stop_reason"),
  stop_reason: Schema.String,
  run_id: optionalNullable(Schema.String)
})

/** @category schemas */
export const UsageStatistics = Schema.Struct({
  message_type: Schema.Literal("usage_statistics"),
  completion_tokens: Schema.Number,
  prompt_tokens: Schema.Number,
  total_tokens: Schema.Number,
  step_count: optionalNullable(Schema.Number),
  run_ids: optionalNullable(Schema.Array(Schema.String)),
  cached_input_tokens: optionalNullable(Schema.Number),
  cache_write_tokens: optionalNullable(Schema.Number),
  reasoning_tokens: optionalNullable(Schema.Number),
  context_tokens: optionalNullable(Schema.Number)
})
/** @category models */
export type UsageStatistics = typeof UsageStatistics.Type

/** In-band error (after `event: error`). @category schemas */
export const ErrorMessage = Schema.Struct({
  message_type: Schema.Literal("error_message"),
  run_id: optionalNullable(Schema.String),
  error_type: Schema.String,
  message: Schema.String,
  detail: optionalNullable(Schema.String),
  seq_id: optionalNullable(Schema.Number)
})
/** @category models */
export type ErrorMessage = typeof ErrorMessage.Type

const knownSchemas = [
  SystemMessage,
  UserMessage,
  ReasoningMessage,
  HiddenReasoningMessage,
  AssistantMessage,
  ToolCallMessage,
  ToolReturnMessage,
  ApprovalRequestMessage,
  ApprovalResponseMessage,
  SummaryMessage,
  EventMessage,
  Ping,
  StopReason,
  UsageStatistics,
  ErrorMessage
] as const

/** Every `message_type` this version understands. @category models */
export const knownMessageTypes: ReadonlySet<string> = new Set(
  knownSchemas.map((schema) => schema.fields.message_type.literals[0])
)

/**
 * A message of a type this version does not know, e.g. `{"message_type":"new_thing","x":1}`. Decoded as
 * `{message_type: "unknown", original_type: "new_thing", fields: {…every key…}}` so that `message_type` stays a
 * literal discriminator; encoding gives the original object back.
 *
 * @category schemas
 */
export const UnknownMessage = Schema.transform(
  Schema.Struct(
    {
      message_type: Schema.String.pipe(
        Schema.filter((type) => !knownMessageTypes.has(type), { message: () => "a known message_type" })
      )
    },
    Schema.Record({ key: Schema.String, value: Schema.Unknown })
  ),
  Schema.Struct({
    message_type: Schema.Literal("unknown"),
    original_type: Schema.String,
    fields: Schema.Record({ key: Schema.String, value: Schema.Unknown })
  }),
  {
    strict: true,
    decode: (wire) => ({ message_type: "unknown" as const, original_type: wire.message_type, fields: wire }),
    encode: (unknown) => ({ ...unknown.fields, message_type: unknown.original_type })
  }
)

/**
 * Everything Letta streams or lists, discriminated by `message_type`.
 *
 * @category schemas
 */
export const LettaMessage = Schema.Union(...knownSchemas, UnknownMessage)
/** @category models */
export type LettaMessage = typeof LettaMessage.Type
/** @category models */
export type LettaMessageEncoded = typeof LettaMessage.Encoded

/** One `data:` payload of a Letta stream, as JSON text. @category schemas */
export const LettaMessageJson = Schema.parseJson(LettaMessage)

type MessageDecoder = (input: unknown) => Either.Either<LettaMessage, ParseResult.ParseError>
type KnownType = (typeof knownSchemas)[number]["fields"]["message_type"]["Type"]

/**
 * The fields the bridge reads of each known type, besides `message_type`; none for the types it passes over (their
 * only use is a status line, or nothing).
 */
const readFields: Record<KnownType, ReadonlyArray<string>> = {
  system_message: [],
  user_message: [],
  reasoning_message: ["otid", "reasoning"],
  hidden_reasoning_message: [],
  assistant_message: ["otid", "content"],
  tool_call_message: ["otid", "tool_call", "tool_calls"],
  tool_return_message: ["tool_return", "status", "tool_call_id", "tool_returns"],
  approval_request_message: ["otid", "tool_call", "tool_calls"],
  approval_response_message: [],
  summary_message: [],
  event_message: [],
  ping: [],
  stop_reason: ["stop_reason"],
  usage_statistics: [
    "completion_tokens",
    "prompt_tokens",
    "total_tokens",
    "step_count",
    "reasoning_tokens",
    "cached_input_tokens"
  ],
  error_message: ["error_type", "message", "detail"]
}

interface Member {
  readonly decode: MessageDecoder
  /** A check per field the bridge does not read. */
  readonly unread: ReadonlyMap<string, (value: unknown) => boolean>
  readonly passedOver: boolean
}

const member = <A extends LettaMessage, I>(
  schema: Schema.Schema<A, I> & { readonly fields: Schema.Struct.Fields },
  type: KnownType
): Member => {
  const read = new Set(["message_type", ...readFields[type]])
  const unread = new Map<string, (value: unknown) => boolean>()
  for (const [key, field] of Object.entries(schema.fields)) {
    if (read.has(key)) continue
    const valid = Schema.is(Schema.Struct({ [key]: field }))
    unread.set(key, (value) => valid({ [key]: value }))
  }
  return { decode: Schema.decodeUnknownEither(schema), unread, passedOver: readFields[type].length === 0 }
}

const members: Record<KnownType, Member> = {
  system_message: member(SystemMessage, "system_message"),
  user_message: member(UserMessage, "user_message"),
  reasoning_message: member(ReasoningMessage, "reasoning_message"),
  hidden_reasoning_message: member(HiddenReasoningMessage, "hidden_reasoning_message"),
  assistant_message: member(AssistantMessage, "assistant_message"),
  tool_call_message: member(ToolCallMessage, "tool_call_message"),
  tool_return_message: member(ToolReturnMessage, "tool_return_message"),
  approval_request_message: member(ApprovalRequestMessage, "approval_request_message"),
  approval_response_message: member(ApprovalResponseMessage, "approval_response_message"),
  summary_message: member(SummaryMessage, "summary_message"),
  event_message: member(EventMessage, "event_message"),
  ping: member(Ping, "ping"),
  stop_reason: member(StopReason, "stop_reason"),
  usage_statistics: member(UsageStatistics, "usage_statistics"),
  error_message: member(ErrorMessage, "error_message")
}
const isKnownType = (type: string): type is KnownType => knownMessageTypes.has(type)
const decodeUnknownMessage: MessageDecoder = Schema.decodeUnknownEither(UnknownMessage)
const decodeUnion: MessageDecoder = Schema.decodeUnknownEither(LettaMessage)

/** The input without the unread fields whose values are not of their documented type; undefined if there are none. */
const withoutOddFields = (input: object, unread: Member["unread"]) => {
  const entries = Object.entries(input)
  const kept = entries.filter(([key, value]) => unread.get(key)?.(value) ?? true)
  // fromEntries defines own properties: a wire key such as `__proto__` stays a plain key
  return kept.length === entries.length ? undefined : Object.fromEntries(kept)
}

const isString = (value: unknown): value is string => typeof value === "string"
const isNullableString = (value: unknown) => value === undefined || value === null || typeof value === "string"
const isNullableNumber = (value: unknown) => value === undefined || value === null || typeof value === "number"

const deltaKeys = ["name", "arguments", "tool_call_id"] as const
const isDelta = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value) &&
  deltaKeys.every((key) => isNullableString(Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined))
const copyDelta = (value: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const key of deltaKeys) if (Object.hasOwn(value, key) && value[key] !== undefined) out[key] = value[key]
  return out
}

// The direct decoders below read each field by its name, as an own property, and copy it only when present, as the
// schema does. They are written out field by field: a loop over a table of keys made every read and write a keyed
// one, and took three times as long (463 vs 130 ns for a text frame, docs/benchmarks.md).

type Wire = Readonly<Record<string, unknown>>
type Out = Record<string, unknown>

/** `messageFields`' keys of `input` copied to `out`; false when one has a value of another type. */
const copyMessageFields = (input: Wire, out: Out): boolean => {
  const id = Object.hasOwn(input, "id") ? input.id : undefined
  const date = Object.hasOwn(input, "date") ? input.date : undefined
  const name = Object.hasOwn(input, "name") ? input.name : undefined
  const otid = Object.hasOwn(input, "otid") ? input.otid : undefined
  const senderId = Object.hasOwn(input, "sender_id") ? input.sender_id : undefined
  const stepId = Object.hasOwn(input, "step_id") ? input.step_id : undefined
  const isErr = Object.hasOwn(input, "is_err") ? input.is_err : undefined
  const seqId = Object.hasOwn(input, "seq_id") ? input.seq_id : undefined
  const runId = Object.hasOwn(input, "run_id") ? input.run_id : undefined
  if (
    !(id === undefined || typeof id === "string") || !(date === undefined || typeof date === "string") ||
    !isNullableString(name) || !isNullableString(otid) || !isNullableString(senderId) || !isNullableString(stepId) ||
    !(isErr === undefined || isErr === null || typeof isErr === "boolean") || !isNullableNumber(seqId) ||
    !isNullableString(runId)
  ) return false
  if (id !== undefined) out.id = id
  if (date !== undefined) out.date = date
  if (name !== undefined) out.name = name
  if (otid !== undefined) out.otid = otid
  if (senderId !== undefined) out.sender_id = senderId
  if (stepId !== undefined) out.step_id = stepId
  if (isErr !== undefined) out.is_err = isErr
  if (seqId !== undefined) out.seq_id = seqId
  if (runId !== undefined) out.run_id = runId
  return true
}

const assistantMessage = (input: Wire): LettaMessage | undefined => {
  const content = Object.hasOwn(input, "content") ? input.content : undefined
  if (!isString(content)) return undefined
  const out: Out = { message_type: "assistant_message" }
  if (!copyMessageFields(input, out)) return undefined
  out.content = content
  return out as LettaMessage
}

const reasoningMessage = (input: Wire): LettaMessage | undefined => {
  const reasoning = Object.hasOwn(input, "reasoning") ? input.reasoning : undefined
  const source = Object.hasOwn(input, "source") ? input.source : undefined
  const signature = Object.hasOwn(input, "signature") ? input.signature : undefined
  if (
    !isString(reasoning) || !isNullableString(signature) ||
    !(source === undefined || source === null || source === "reasoner_model" || source === "non_reasoner_model")
  ) return undefined
  const out: Out = { message_type: "reasoning_message" }
  if (!copyMessageFields(input, out)) return undefined
  out.reasoning = reasoning
  if (source !== undefined) out.source = source
  if (signature !== undefined) out.signature = signature
  return out as LettaMessage
}

/** A streamed tool call comes as a frame per fragment of its arguments. */
const toolCallMessage = (input: Wire): LettaMessage | undefined => {
  const call = Object.hasOwn(input, "tool_call") ? input.tool_call : undefined
  const calls = Object.hasOwn(input, "tool_calls") ? input.tool_calls : undefined
  if (
    !(call === undefined || call === null || isDelta(call)) ||
    !(calls === undefined || calls === null || isDelta(calls) || (Array.isArray(calls) && calls.every(isDelta)))
  ) return undefined
  const out: Out = { message_type: "tool_call_message" }
  if (!copyMessageFields(input, out)) return undefined
  if (call !== undefined) out.tool_call = call === null ? null : copyDelta(call)
  if (calls !== undefined) {
    out.tool_calls = calls === null ? null : Array.isArray(calls) ? calls.map(copyDelta) : copyDelta(calls)
  }
  return out as LettaMessage
}

const ping = (input: Wire): LettaMessage | undefined => {
  const out: Out = { message_type: "ping" }
  return copyMessageFields(input, out) ? out as LettaMessage : undefined
}

const stopReason = (input: Wire): LettaMessage | undefined => {
  const reason = Object.hasOwn(input, "stop_reason") ? input.stop_reason : undefined
  const runId = Object.hasOwn(input, "run_id") ? input.run_id : undefined
  if (!isString(reason) || !isNullableString(runId)) return undefined
  const out: Out = { message_type: "stop_reason", stop_reason: reason }
  if (runId !== undefined) out.run_id = runId
  return out as LettaMessage
}

const usageCounts = ["completion_tokens", "prompt_tokens", "total_tokens"] as const
const usageOptionalCounts = [
  "step_count",
  "cached_input_tokens",
  "cache_write_tokens",
  "reasoning_tokens",
  "context_tokens"
] as const

/** One frame a turn: a loop over its keys costs little here. */
const usageStatistics = (input: Wire): LettaMessage | undefined => {
  const out: Out = { message_type: "usage_statistics" }
  for (const key of usageCounts) {
    const value = Object.hasOwn(input, key) ? input[key] : undefined
    if (typeof value !== "number") return undefined
    out[key] = value
  }
  for (const key of usageOptionalCounts) {
    const value = Object.hasOwn(input, key) ? input[key] : undefined
    if (!isNullableNumber(value)) return undefined
    if (value !== undefined) out[key] = value
  }
  const runIds = Object.hasOwn(input, "run_ids") ? input.run_ids : undefined
  if (!(runIds === undefined || runIds === null || (Array.isArray(runIds) && runIds.every(isString)))) return undefined
  if (runIds !== undefined) out.run_ids = runIds === null ? null : [...runIds]
  return out as LettaMessage
}

/**
 * The frames of a turn but for one or two: checked and copied directly, as the schema decodes them (the declared fields
 * only). Anything else is undefined, and goes through the schema, which then says why.
 */
const directDecoders: ReadonlyMap<string, (input: Wire) => LettaMessage | undefined> = new Map([
  ["assistant_message", assistantMessage],
  ["reasoning_message", reasoningMessage],
  ["tool_call_message", toolCallMessage],
  ["ping", ping],
  ["stop_reason", stopReason],
  ["usage_statistics", usageStatistics]
])

/**
 * Decodes one parsed frame with the {@link LettaMessage} union, picking the member by `message_type` first, and strict
 * only about what the bridge reads:
 * - a valid message decodes as the union would;
 * - an odd value in a field the bridge never reads (`date`, `seq_id`, `is_err`, `signature`, …) is dropped;
 * - a malformed message of a type the bridge passes over (`ping`, `user_message`, `event_message`, …) becomes the
 *   unknown variant, lossless like a type this version does not know;
 * - a malformed field the bridge reads (content, `otid`, tool-call fields, the stop reason, usage) fails, naming it.
 *
 * @category decoding
 */
export const decodeMessage = (input: unknown): Either.Either<LettaMessage, ParseResult.ParseError> => {
  if (typeof input !== "object" || input === null || !("message_type" in input)) return decodeUnion(input)
  const type = input.message_type
  if (typeof type !== "string") return decodeUnion(input)
  // nearly every frame of a turn (text, tool-call fragments, pings, the stop reason, usage) is checked and copied
  // directly, the schema's way, without its parser
  const direct = directDecoders.get(type)
  const fast = direct === undefined ? undefined : direct(input as Wire)
  if (fast !== undefined) return Either.right(fast)
  if (!isKnownType(type)) return decodeUnknownMessage(input)
  const known = members[type]
  const strict = known.decode(input)
  if (Either.isRight(strict)) return strict
  const cleaned = withoutOddFields(input, known.unread)
  if (cleaned !== undefined) {
    const retried = known.decode(cleaned)
    if (Either.isRight(retried)) return retried
  }
  return known.passedOver
    ? Either.right({ message_type: "unknown", original_type: type, fields: { ...input } })
    : strict
}

// ---------------------------------------------------------------------------------------------------------------------
// requests
// ---------------------------------------------------------------------------------------------------------------------

/** A user turn. `content`, never the legacy `text` (current Letta rejects it). @category schemas */
export const MessageCreate = Schema.Struct({
  type: Schema.optional(Schema.Literal("message")),
  role: Schema.Literal("user", "system", "assistant"),
  content: Schema.Union(Schema.String, Schema.Array(UserContentPart)),
  name: Schema.optional(Schema.String),
  otid: Schema.optional(Schema.String)
})
/** @category models */
export type MessageCreate = typeof MessageCreate.Type

const requestFields = {
  messages: Schema.Array(MessageCreate),
  max_steps: Schema.optional(Schema.Number),
  include_return_message_types: Schema.optional(Schema.Array(Schema.String)),
  override_model: Schema.optional(Schema.String)
}

const streamingFields = {
  stream_tokens: Schema.optional(Schema.Boolean),
  include_pings: Schema.optional(Schema.Boolean),
  background: Schema.optional(Schema.Boolean)
}

/** Body of `POST /v1/agents/{id}/messages` (blocking) and `/messages/async`. @category schemas */
export const LettaRequest = Schema.Struct(requestFields)
/** @category models */
export type LettaRequest = typeof LettaRequest.Type

/** Body of `POST /v1/agents/{id}/messages/stream`. @category schemas */
export const LettaStreamingRequest = Schema.Struct({ ...requestFields, ...streamingFields })
/** @category models */
export type LettaStreamingRequest = typeof LettaStreamingRequest.Type

/** Body of `POST /v1/conversations/{id}/messages` (`streaming` defaults to true there). @category schemas */
export const ConversationMessageRequest = Schema.Struct({
  ...requestFields,
  ...streamingFields,
  streaming: Schema.optional(Schema.Boolean),
  agent_id: Schema.optional(Schema.String)
})
/** @category models */
export type ConversationMessageRequest = typeof ConversationMessageRequest.Type

/** Body of `POST /v1/conversations/?agent_id=`. @category schemas */
export const CreateConversation = Schema.Struct({
  summary: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String)
})
/** @category models */
export type CreateConversation = typeof CreateConversation.Type

// ---------------------------------------------------------------------------------------------------------------------
// responses
// ---------------------------------------------------------------------------------------------------------------------

/** `GET /v1/health/`. @category schemas */
export const Health = Schema.Struct({ version: Schema.String, status: Schema.String })
/** @category models */
export type Health = typeof Health.Type

/** A JSON object passed on as Letta gave it (an agent's `llm_config`, a tool rule). @category schemas */
export const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * A memory block of an agent (`Block` in Letta's spec; `memory.blocks` of `AgentState`).
 *
 * @category schemas
 */
export const MemoryBlock = Schema.Struct({
  id: optionalNullable(Schema.String),
  label: optionalNullable(Schema.String),
  value: Schema.String,
  limit: optionalNullable(Schema.Number),
  description: optionalNullable(Schema.String),
  read_only: optionalNullable(Schema.Boolean)
})
/** @category models */
export type MemoryBlock = typeof MemoryBlock.Type

/**
 * Body of `POST /v1/agents/` (`CreateAgentRequest`; the App Server's `agent_create` takes the same), the fields this
 * project sends.
 *
 * @category schemas
 */
export const CreateAgent = Schema.Struct({
  name: Schema.String,
  system: Schema.optional(Schema.String),
  agent_type: Schema.optional(Schema.String),
  description: Schema.optional(Schema.String),
  model: Schema.optional(Schema.String),
  embedding: Schema.optional(Schema.String),
  llm_config: Schema.optional(JsonObject),
  embedding_config: Schema.optional(JsonObject),
  memory_blocks: Schema.optional(Schema.Array(Schema.Struct({
    label: Schema.String,
    value: Schema.String,
    limit: Schema.optional(Schema.Number),
    description: Schema.optional(Schema.String),
    read_only: Schema.optional(Schema.Boolean)
  }))),
  tool_ids: Schema.optional(Schema.Array(Schema.String)),
  tool_rules: Schema.optional(Schema.Array(JsonObject)),
  tags: Schema.optional(Schema.Array(Schema.String)),
  identity_ids: Schema.optional(Schema.Array(Schema.String)),
  /** false: the copy gets the template's tools (`tool_ids`), not Letta's base tools on top */
  include_base_tools: Schema.optional(Schema.Boolean),
  metadata: Schema.optional(JsonObject)
})
/** @category models */
export type CreateAgent = typeof CreateAgent.Type

/** `IdentityType` of Letta's spec. @category schemas */
export const IdentityType = Schema.Literal("org", "user", "other")

/** Body of `PUT /v1/identities/` (`IdentityUpsert`). @category schemas */
export const IdentityUpsert = Schema.Struct({
  identifier_key: Schema.String,
  name: Schema.String,
  identity_type: IdentityType,
  agent_ids: Schema.optional(Schema.Array(Schema.String))
})
/** @category models */
export type IdentityUpsert = typeof IdentityUpsert.Type

/** `Identity` of Letta's spec, the parts this project reads. @category schemas */
export const Identity = Schema.Struct({
  id: Schema.String,
  identifier_key: Schema.String,
  name: Schema.String,
  identity_type: Schema.String,
  agent_ids: Schema.Array(Schema.String)
})
/** @category models */
export type Identity = typeof Identity.Type

/**
 * The parts of `AgentState` this project reads. Other keys are accepted and dropped.
 *
 * @category schemas
 */
export const AgentState = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  description: optionalNullable(Schema.String),
  agent_type: optionalNullable(Schema.String),
  tags: optionalNullable(Schema.Array(Schema.String)),
  model: optionalNullable(Schema.String),
  created_at: optionalNullable(Schema.String),
  updated_at: optionalNullable(Schema.String),
  last_stop_reason: optionalNullable(Schema.String),
  /** What a copy of the agent takes (per-user agents): the rest of Letta's `AgentState` is not read. */
  system: optionalNullable(Schema.String),
  embedding: optionalNullable(Schema.String),
  llm_config: optionalNullable(JsonObject),
  embedding_config: optionalNullable(JsonObject),
  memory: optionalNullable(Schema.Struct({ blocks: Schema.Array(MemoryBlock) })),
  tools: optionalNullable(Schema.Array(Schema.Struct({ id: optionalNullable(Schema.String), name: Schema.String }))),
  tool_rules: optionalNullable(Schema.Array(JsonObject)),
  identity_ids: optionalNullable(Schema.Array(Schema.String)),
  metadata: optionalNullable(JsonObject)
})
/** @category models */
export type AgentState = typeof AgentState.Type

/** @category schemas */
export const AgentList = Schema.Array(AgentState)

/** @category schemas */
export const MessageList = Schema.Array(LettaMessage)

/** Body of a blocking `POST /v1/agents/{id}/messages`. @category schemas */
export const LettaResponse = Schema.Struct({
  messages: Schema.Array(LettaMessage),
  stop_reason: StopReason,
  usage: UsageStatistics
})
/** @category models */
export type LettaResponse = typeof LettaResponse.Type

/** @category schemas */
export const RunStatus = Schema.Literal("created", "running", "completed", "failed", "cancelled")
/** @category models */
export type RunStatus = typeof RunStatus.Type

/** @category schemas */
export const Run = Schema.Struct({
  id: Schema.String,
  status: RunStatus,
  agent_id: Schema.String,
  conversation_id: optionalNullable(Schema.String),
  background: optionalNullable(Schema.Boolean),
  stop_reason: optionalNullable(Schema.String),
  created_at: optionalNullable(Schema.String),
  completed_at: optionalNullable(Schema.String)
})
/** @category models */
export type Run = typeof Run.Type

/** @category schemas */
export const Conversation = Schema.Struct({
  id: Schema.String,
  agent_id: Schema.String,
  summary: optionalNullable(Schema.String),
  created_at: optionalNullable(Schema.String),
  updated_at: optionalNullable(Schema.String)
})
/** @category models */
export type Conversation = typeof Conversation.Type

/**
 * Both Letta error body families: FastAPI's `{"detail": …}` (string, object, or pydantic list) and the provider
 * family `{"error": {type, message, detail}}`.
 *
 * @category schemas
 */
export const ErrorBody = Schema.Union(
  Schema.Struct({
    error: Schema.Struct({
      type: Schema.optional(Schema.String),
      message: Schema.String,
      detail: optionalNullable(Schema.Unknown)
    })
  }),
  // a busy conversation adds the run that holds it
  Schema.Struct({ detail: Schema.Unknown, run_id: Schema.optional(Schema.String) })
)
/** @category models */
export type ErrorBody = typeof ErrorBody.Type

/** `data:` of a transport-level `event: error` sent after the headers. @category schemas */
export const TransportErrorBody = Schema.Struct({ error: Schema.String, code: Schema.optional(Schema.String) })

/** `data:` of `event: cancelled`. @category schemas */
export const CancelledBody = Schema.Struct({ message: Schema.String })
