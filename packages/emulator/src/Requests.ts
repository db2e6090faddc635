/**
 * The request bodies the emulator reads, derived from core's `LettaSchema` where Letta's are the same, widened where
 * Letta accepts more than core sends (other clients send it), and the emulator's own where core has none.
 *
 * Bodies are decoded with `onExcessProperty: "ignore"`, as pydantic ignores unknown keys, so only the fields listed
 * here are checked.
 *
 * @since 0.1.0
 */
import { LettaSchema } from "@letta-pipeline/core"
import { Schema } from "effect"

/**
 * The user turn of every message request. Letta takes `messages` or its 1.0 shorthand `input` (one user message),
 * neither required, and answers a missing one with a 422 of its own; core always sends `messages`, so its schemas
 * require them and know no `input`.
 */
const turnFields = Schema.Struct({
  messages: Schema.optional(LettaSchema.LettaRequest.fields.messages),
  input: Schema.optional(Schema.Union(Schema.String, Schema.Array(LettaSchema.UserContentPart)))
})

/**
 * `POST /v1/agents/{id}/messages` and `/messages/stream` (Letta's `LettaStreamingRequest` for both): core's, with
 * `messages`/`input` as above and the blocking route's `streaming` switch, which core never sets (it streams from
 * `/stream`).
 *
 * @category schemas
 */
export const LettaStreamingRequest = Schema.extend(
  Schema.extend(turnFields, Schema.Struct({ streaming: Schema.optional(Schema.Boolean) })),
  LettaSchema.LettaStreamingRequest.omit("messages")
)
/** @category models */
export type LettaStreamingRequest = typeof LettaStreamingRequest.Type

/**
 * `POST /v1/agents/{id}/messages/async` (Letta's `LettaAsyncRequest`): core's `LettaRequest`, widened as above.
 *
 * @category schemas
 */
export const LettaAsyncRequest = Schema.extend(turnFields, LettaSchema.LettaRequest.omit("messages"))
/** @category models */
export type LettaAsyncRequest = typeof LettaAsyncRequest.Type

/** `POST /v1/conversations/{id}/messages`: core's `ConversationMessageRequest`, widened as above. @category schemas */
export const ConversationMessageRequest = Schema.extend(turnFields, LettaSchema.ConversationMessageRequest.omit("messages"))
/** @category models */
export type ConversationMessageRequest = typeof ConversationMessageRequest.Type

/** What starting a turn reads of any of the message requests. @category models */
export type TurnRequest = Pick<
  ConversationMessageRequest,
  "messages" | "input" | "stream_tokens" | "include_pings" | "background"
>

/**
 * `POST /v1/conversations/?agent_id=`: core's `CreateConversation`, with Letta's nullable `summary` (other clients send
 * `null`; core leaves it out).
 *
 * @category schemas
 */
export const CreateConversation = Schema.extend(
  Schema.Struct({ summary: Schema.optional(Schema.NullOr(Schema.String)) }),
  LettaSchema.CreateConversation.omit("summary")
)

const uuid4 = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"

/** Letta's `identity-<uuid4>` (its path and body validators). @category schemas */
export const IdentityId = Schema.String.pipe(
  Schema.pattern(new RegExp(`^identity-${uuid4}$`), { message: () => "String should match pattern 'identity-{uuid4}'" })
)

/** Letta's `tool-<uuid4>`. */
const ToolId = Schema.String.pipe(
  Schema.pattern(new RegExp(`^tool-${uuid4}$`), { message: () => "String should match pattern 'tool-{uuid4}'" })
)

/**
 * `POST /v1/agents/` (Letta's `CreateAgentRequest`): core's `CreateAgent`, with `name` optional (Letta makes one up)
 * and the ids checked against Letta's patterns, as its body validators do.
 *
 * @category schemas
 */
export const CreateAgent = Schema.Struct({
  ...LettaSchema.CreateAgent.fields,
  name: Schema.optional(Schema.String),
  tool_ids: Schema.optional(Schema.Array(ToolId)),
  identity_ids: Schema.optional(Schema.Array(IdentityId))
})

/**
 * `PUT /v1/identities/` and `POST /v1/identities/` (Letta's `IdentityUpsert` and `IdentityCreate`, the same fields):
 * core's, with Letta's nullable `agent_ids` (null or absent: the agents stay as they are).
 *
 * @category schemas
 */
export const IdentityUpsert = Schema.Struct({
  ...LettaSchema.IdentityUpsert.fields,
  agent_ids: Schema.optional(Schema.NullOr(Schema.Array(Schema.String)))
})

/** `POST /v1/agents/{id}/messages/cancel` (Letta's `CancelAgentRunRequest`; core does not cancel). @category schemas */
export const CancelAgentRunRequest = Schema.Struct({
  run_ids: Schema.optional(Schema.NullOr(Schema.Array(Schema.String)))
})

/** `POST /v1/runs/{id}/stream` (Letta's `RetrieveStreamRequest`; core does not resume). @category schemas */
export const RetrieveStreamRequest = Schema.Struct({
  starting_after: Schema.optional(Schema.Number),
  include_pings: Schema.optional(Schema.Boolean),
  poll_interval: Schema.optional(Schema.Number),
  batch_size: Schema.optional(Schema.Number)
})

/** `POST /_emulator/faults`: a fault for the next `count` requests. @category schemas */
export const ArmFaults = Schema.Struct({
  fault: Schema.String,
  count: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100_000)), { default: () => 1 })
})
