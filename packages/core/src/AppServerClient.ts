/**
 * `LettaClient` over the Letta App Server (`letta server --listen ws://…` of `@letta-ai/letta-code`): its WebSocket
 * protocol, through `@effect/platform`'s `Socket`. One socket per call, made by the `Socket.WebSocketConstructor` of
 * the context (`HttpTransport.layerWebSocketConstructor` on Node), so this module is platform-neutral.
 *
 * The App Server's frames are normalised into core's messages so that everything above works unchanged:
 * - a turn ends at `turn_finished`, not at a `stop_reason` (a tool turn is several runs, each with its own);
 * - `approval_request_message` (auto-approved client tools) becomes a `tool_call_message`, the synthetic
 *   `tool_return_message` stays; lifecycle frames (`client_tool_start`, `loop_error`, …) are dropped;
 * - the runs' `usage_statistics` are summed into one, emitted with the final stop reason.
 * Interrupting a turn sends `abort_message` before the socket closes. A turn sent while an earlier one on its
 * conversation winds down is queued by the App Server, and every socket that sent a command for the conversation gets
 * the earlier turn's frames: a turn is matched by its own ids, and a queued one is resumed (`resume_queue`), since
 * the App Server may otherwise leave it queued. The socket session is `internal/appServerSession.ts`, the frames and
 * their normalisation `internal/appServerFrames.ts`.
 *
 * The App Server has no background runs: this layer provides no `LettaRuns` (so no `LETTA_MODE=poll`), and
 * `listMessages` fails with `InvalidRequest`.
 *
 * @since 0.1.0
 */
import type { Socket } from "@effect/platform"
import { Effect, Layer, Schema, Stream } from "effect"
import * as Session from "./internal/appServerSession.js"
import * as LettaClient from "./LettaClient.js"
import * as LettaConfig from "./LettaConfig.js"
import { LettaError, type PipelineError } from "./LettaError.js"
import * as LettaSchema from "./LettaSchema.js"
import * as StreamStage from "./StreamStage.js"

const AgentResponse = Schema.Struct({ agent: Schema.NullOr(LettaSchema.AgentState) })
const CreatedAgentResponse = Schema.Struct({ agent: LettaSchema.AgentState })
const AgentsResponse = Schema.Struct({ agents: LettaSchema.AgentList })
const ConversationResponse = Schema.Struct({ conversation: LettaSchema.Conversation })
const InfoResponse = Schema.Struct({ letta_code_version: Schema.optional(Schema.String) })

/** The WebSocket endpoint of an App Server URL: `/ws` unless the URL names a path. */
export const socketUrl = (baseUrl: string): string => {
  const url = new URL(baseUrl)
  return url.pathname === "" || url.pathname === "/" ? `${url.origin}/ws` : url.toString()
}

/** A whole turn as a `LettaResponse`. */
const collectTurn = (stream: Stream.Stream<LettaSchema.LettaMessage, PipelineError>) =>
  Effect.map(Stream.runCollect(stream), (chunk): LettaSchema.LettaResponse => {
    const all = Array.from(chunk)
    const stop = all.findLast((m) => m.message_type === "stop_reason")
    const usage = all.findLast((m) => m.message_type === "usage_statistics")
    return {
      messages: all.filter((m) => m.message_type !== "stop_reason" && m.message_type !== "usage_statistics"),
      stop_reason: stop?.message_type === "stop_reason" ? stop : { message_type: "stop_reason", stop_reason: "end_turn" },
      usage: usage?.message_type === "usage_statistics"
        ? usage
        : { message_type: "usage_statistics", completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 }
    }
  })

/**
 * The client over an App Server, configured by `LettaConfig` (`LETTA_BASE_URL=ws://…`, `LETTA_API_KEY` as its bearer
 * token), its sockets made by the context's `Socket.WebSocketConstructor`.
 *
 * @category constructors
 */
export const make: Effect.Effect<
  LettaClient.Service,
  never,
  LettaConfig.LettaConfig | Socket.WebSocketConstructor
> = Effect.gen(function*() {
  const settings = yield* LettaConfig.LettaConfig
  const { command, failed, turn } = yield* Session.make({
    url: socketUrl(settings.baseUrl),
    token: settings.apiKey,
    timeouts: settings.timeouts,
    retries: settings.retries
  })

  const streamMessage: LettaClient.Service["streamMessage"] = (agentId, body) =>
    StreamStage.unwrap(Effect.map(LettaClient.checkAgentId(agentId), (id) =>
      turn({ agent_id: id, conversation_id: "default" }, body.messages.at(-1)?.content ?? "")))

  const streamConversation: LettaClient.Service["streamConversation"] = (conversationId, body) =>
    StreamStage.unwrap(Effect.gen(function*() {
      const id = yield* LettaClient.checkConversationId(conversationId)
      if (body.agent_id === undefined) {
        return yield* new LettaError({
          reason: "InvalidRequest",
          detail: "the App Server needs the agent of a conversation"
        })
      }
      const agent = yield* LettaClient.checkAgentId(body.agent_id)
      return turn({ agent_id: agent, conversation_id: id }, body.messages.at(-1)?.content ?? "")
    }))

  return LettaClient.LettaClient.of({
    streamMessage,
    streamConversation,
    sendMessage: (agentId, body) => collectTurn(streamMessage(agentId, body)),
    sendConversation: (conversationId, body) => collectTurn(streamConversation(conversationId, body)),
    listMessages: () =>
      Effect.fail(
        new LettaError({
          reason: "InvalidRequest",
          detail: "Listing messages is not offered by the Letta App Server (LETTA_BACKEND=app-server)"
        })
      ),
    listAgents: (query = {}) =>
      command("agent_list", { schema: AgentsResponse }).pipe(
        Effect.map(({ agents }) =>
          agents.filter((agent) =>
            (query.name === undefined || agent.name === query.name) &&
            (query.tags === undefined || query.tags.length === 0 ||
              (query.matchAllTags === true
                ? query.tags.every((tag) => (agent.tags ?? []).includes(tag))
                : query.tags.some((tag) => (agent.tags ?? []).includes(tag))))
          ).slice(0, query.limit)
        )
      ),
    getAgent: (agentId) =>
      Effect.gen(function*() {
        const id = yield* LettaClient.checkAgentId(agentId)
        const { agent } = yield* command("agent_retrieve", {
          fields: { agent_id: id },
          schema: AgentResponse,
          agentId: id
        })
        return agent === null ? yield* failed(`Agent ${id} not found`, id) : agent
      }),
    createAgent: (body) =>
      command("agent_create", {
        fields: { body: Schema.encodeSync(LettaSchema.CreateAgent)(body) },
        schema: CreatedAgentResponse
      }).pipe(Effect.map(({ agent }) => agent)),
    deleteAgent: (agentId) =>
      Effect.gen(function*() {
        const id = yield* LettaClient.checkAgentId(agentId)
        yield* command("agent_delete", { fields: { agent_id: id }, schema: Schema.Unknown, agentId: id })
      }),
    health: Effect.map(command("app_server_info", { schema: InfoResponse }), (info) => ({
      version: info.letta_code_version ?? "unknown",
      status: "ok"
    })),
    createConversation: (agentId) =>
      Effect.gen(function*() {
        const id = yield* LettaClient.checkAgentId(agentId)
        const { conversation } = yield* command("conversation_create", {
          fields: { body: { agent_id: id } },
          schema: ConversationResponse,
          agentId: id
        })
        return conversation
      }),
    getConversation: (conversationId) =>
      Effect.gen(function*() {
        const id = yield* LettaClient.checkConversationId(conversationId)
        const { conversation } = yield* command("conversation_retrieve", {
          fields: { conversation_id: id },
          schema: ConversationResponse
        })
        return conversation
      })
  })
})

/**
 * The App Server client over the given settings and the context's WebSocket constructor. It provides `LettaClient`
 * only: no `LettaRuns`.
 *
 * @category layers
 */
export const layer: Layer.Layer<LettaClient.LettaClient, never, LettaConfig.LettaConfig | Socket.WebSocketConstructor> =
  Layer.effect(LettaClient.LettaClient, make)
