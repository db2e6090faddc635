/**
 * The Letta REST API as an Effect service: streamed turns as `Stream`s of decoded {@link LettaSchema.LettaMessage}s,
 * everything else as `Effect`s. Only `LettaError`, `HttpError` and `DecodeError` leave it.
 *
 * Ids are checked against Letta's patterns before a URL is built. Streams are released (and the upstream request
 * aborted) as soon as their consumer stops. The requests, credentials, SSE decoding, timeouts, retries and error
 * mapping are the REST transport's (`internal/restTransport.ts`); this module says which endpoint each method is.
 *
 * The same service is offered over the App Server (`AppServerClient`); what only the REST API can do, background runs,
 * is a service of its own, `LettaRuns`, which this module's layers provide too.
 *
 * @example
 * ```ts
 * import { FetchHttpClient } from "@effect/platform"
 * import { LettaClient, LettaConfig } from "@letta-pipeline/core"
 * import { Effect, Layer, Stream } from "effect"
 *
 * const settings = LettaConfig.make({ baseUrl: "http://localhost:8283" })
 *
 * // the assistant's messages of one streamed turn, over any HttpClient (here the fetch-based one)
 * export const reply = Effect.flatMap(LettaClient.LettaClient, (client) =>
 *   client.streamMessage("agent-a1b2c3d4-0000-4000-8000-000000000001", {
 *     messages: [{ role: "user", content: "Hello" }]
 *   }).pipe(
 *     Stream.filter((message) => message.message_type === "assistant_message"),
 *     Stream.runCollect
 *   )).pipe(Effect.provide(LettaClient.layerSettings(settings).pipe(Layer.provide(FetchHttpClient.layer))))
 * ```
 *
 * @example
 * ```ts
 * import { LettaClient } from "@letta-pipeline/core"
 * import { Effect } from "effect"
 *
 * // a fake for tests: the methods given; any other dies with "not implemented" when called
 * export const HealthyLetta = LettaClient.layerTest({ health: Effect.succeed({ version: "0.16.0", status: "ok" }) })
 * ```
 *
 * @since 0.1.0
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { type ConfigError, Context, Effect, Layer, Schema, Stream } from "effect"
import * as Ids from "./internal/ids.js"
import * as RestTransport from "./internal/restTransport.js"
import * as LettaConfig from "./LettaConfig.js"
import type { LettaError, PipelineError } from "./LettaError.js"
import * as LettaIdentities from "./LettaIdentities.js"
import * as LettaRuns from "./LettaRuns.js"
import * as LettaSchema from "./LettaSchema.js"
import * as StreamStage from "./StreamStage.js"

/** Query of `GET /v1/agents/`. @category models */
export interface ListAgentsQuery {
  /** Exact name. */
  readonly name?: string | undefined
  readonly tags?: ReadonlyArray<string> | undefined
  readonly matchAllTags?: boolean | undefined
  /** At most this many (one page, no paging): a cheap call, e.g. to see that the credentials are accepted. */
  readonly limit?: number | undefined
}

/** Query of `GET /v1/agents/{id}/messages`. @category models */
export interface ListMessagesQuery {
  readonly limit?: number | undefined
  readonly order?: "asc" | "desc" | undefined
  readonly before?: string | undefined
  readonly after?: string | undefined
  readonly conversationId?: string | undefined
}

/** @category models */
export interface Service {
  /** `POST /v1/agents/{id}/messages/stream`: one turn, as it happens. */
  readonly streamMessage: (
    agentId: string,
    body: LettaSchema.LettaStreamingRequest
  ) => Stream.Stream<LettaSchema.LettaMessage, PipelineError>
  /** `POST /v1/conversations/{id}/messages` with `streaming: true`. */
  readonly streamConversation: (
    conversationId: string,
    body: LettaSchema.ConversationMessageRequest
  ) => Stream.Stream<LettaSchema.LettaMessage, PipelineError>
  /** `POST /v1/agents/{id}/messages`: one turn, answered when it is over. */
  readonly sendMessage: (
    agentId: string,
    body: LettaSchema.LettaRequest
  ) => Effect.Effect<LettaSchema.LettaResponse, PipelineError>
  /** `POST /v1/conversations/{id}/messages` with `streaming: false`: answered when the turn is over. */
  readonly sendConversation: (
    conversationId: string,
    body: LettaSchema.ConversationMessageRequest
  ) => Effect.Effect<LettaSchema.LettaResponse, PipelineError>
  /** `GET /v1/agents/`, every page. */
  readonly listAgents: (query?: ListAgentsQuery) => Effect.Effect<ReadonlyArray<LettaSchema.AgentState>, PipelineError>
  /** `GET /v1/agents/{id}`. */
  readonly getAgent: (agentId: string) => Effect.Effect<LettaSchema.AgentState, PipelineError>
  /** `POST /v1/agents/` (the App Server: `agent_create`): a new agent, as Letta made it. */
  readonly createAgent: (body: LettaSchema.CreateAgent) => Effect.Effect<LettaSchema.AgentState, PipelineError>
  /** `DELETE /v1/agents/{id}` (the App Server: `agent_delete`); `NotFound` when there is no such agent. */
  readonly deleteAgent: (agentId: string) => Effect.Effect<void, PipelineError>
  /** `GET /v1/agents/{id}/messages` (Letta's default order is newest first); the App Server does not offer it. */
  readonly listMessages: (
    agentId: string,
    query?: ListMessagesQuery
  ) => Effect.Effect<ReadonlyArray<LettaSchema.LettaMessage>, PipelineError>
  /** `GET /v1/health/`. */
  readonly health: Effect.Effect<LettaSchema.Health, PipelineError>
  /** `POST /v1/conversations/?agent_id=`. */
  readonly createConversation: (
    agentId: string,
    body?: LettaSchema.CreateConversation
  ) => Effect.Effect<LettaSchema.Conversation, PipelineError>
  /** `GET /v1/conversations/{id}`: the conversation and the agent it belongs to (`NotFound` when unknown). */
  readonly getConversation: (conversationId: string) => Effect.Effect<LettaSchema.Conversation, PipelineError>
}

/** @category services */
export class LettaClient extends Context.Tag("@letta-pipeline/core/LettaClient")<LettaClient, Service>() {}

/**
 * The id, or an `InvalidId` error naming the expected pattern (`agent-<uuid4>` or `agent-local-<uuid>`).
 *
 * @category constructors
 */
export const checkAgentId: (value: string) => Effect.Effect<LettaSchema.AgentId, LettaError> = Ids.checkAgentId
/**
 * The id, or an `InvalidId` error (`conv-<uuid4>`, `local-conv-<n>` or `default`).
 *
 * @category constructors
 */
export const checkConversationId: (value: string) => Effect.Effect<LettaSchema.ConversationId, LettaError> =
  Ids.checkConversationId
/**
 * The id, or an `InvalidId` error (`run-<uuid4>` or `local-run-<n>`).
 *
 * @category constructors
 */
export const checkRunId: (value: string) => Effect.Effect<LettaSchema.RunId, LettaError> = Ids.checkRunId

/** Page size of `listAgents` (Letta's own default). */
const agentPageSize = 50
/** A guard against a server that keeps returning full pages. */
const maxAgentPages = 1000

/** A turn in a conversation: its 404 means the conversation is gone, unless it is the agent's own thread. */
const conversationIds = (conversationId: string, agentId: string | undefined): RestTransport.Ids => ({
  agentId,
  ...(conversationId === "default" ? {} : { conversationId })
})

/**
 * Builds the client over an `HttpClient`, configured by `LettaConfig`.
 *
 * @category constructors
 */
export const make: Effect.Effect<Service, never, HttpClient.HttpClient | LettaConfig.LettaConfig> = Effect.gen(
  function*() {
    const { json, stream } = RestTransport.make(
      RestTransport.optionsOf(yield* HttpClient.HttpClient, yield* LettaConfig.LettaConfig)
    )
    const post = RestTransport.post

    const listAgents = Effect.fn("LettaClient.listAgents")(function*(query: ListAgentsQuery = {}) {
      const agents: Array<LettaSchema.AgentState> = []
      let after: string | undefined
      const pageSize = query.limit === undefined ? agentPageSize : Math.max(1, Math.min(query.limit, agentPageSize))
      for (let page = 0; page < maxAgentPages; page++) {
        const urlParams: Array<[string, string]> = [["limit", String(pageSize)]]
        if (query.name !== undefined) urlParams.push(["name", query.name])
        for (const tag of query.tags ?? []) urlParams.push(["tags", tag])
        if (query.matchAllTags === true) urlParams.push(["match_all_tags", "true"])
        if (after !== undefined) urlParams.push(["after", after])
        const batch = yield* json(HttpClientRequest.get("/v1/agents/", { urlParams }), {
          schema: LettaSchema.AgentList,
          what: "agent list"
        })
        agents.push(...batch)
        if (query.limit !== undefined) return agents.slice(0, query.limit)
        const last = batch.at(-1)
        if (batch.length < pageSize || last === undefined || last.id === after) break
        after = last.id
      }
      return agents
    })

    return LettaClient.of({
      streamMessage: (agentId, body) =>
        StreamStage.unwrap(Effect.map(checkAgentId(agentId), (id) =>
          stream(
            post(`/v1/agents/${id}/messages/stream`, Schema.encodeSync(LettaSchema.LettaStreamingRequest)(body)),
            { agentId: id }
          ))),
      streamConversation: (conversationId, body) =>
        StreamStage.unwrap(Effect.gen(function*() {
          const id = yield* checkConversationId(conversationId)
          if (body.agent_id !== undefined) yield* checkAgentId(body.agent_id)
          const encoded = Schema.encodeSync(LettaSchema.ConversationMessageRequest)({ ...body, streaming: true })
          return stream(post(`/v1/conversations/${id}/messages`, encoded), conversationIds(id, body.agent_id))
        })),
      sendMessage: Effect.fn("LettaClient.sendMessage")(function*(agentId: string, body: LettaSchema.LettaRequest) {
        const id = yield* checkAgentId(agentId)
        return yield* json(post(`/v1/agents/${id}/messages`, Schema.encodeSync(LettaSchema.LettaRequest)(body)), {
          schema: LettaSchema.LettaResponse,
          what: "turn response",
          ids: { agentId: id },
          phase: "turn",
          waitWhileBusy: true
        })
      }),
      sendConversation: Effect.fn("LettaClient.sendConversation")(function*(
        conversationId: string,
        body: LettaSchema.ConversationMessageRequest
      ) {
        const id = yield* checkConversationId(conversationId)
        if (body.agent_id !== undefined) yield* checkAgentId(body.agent_id)
        const encoded = Schema.encodeSync(LettaSchema.ConversationMessageRequest)({ ...body, streaming: false })
        return yield* json(post(`/v1/conversations/${id}/messages`, encoded), {
          schema: LettaSchema.LettaResponse,
          what: "turn response",
          ids: conversationIds(id, body.agent_id),
          phase: "turn",
          waitWhileBusy: true
        })
      }),
      listAgents,
      getAgent: Effect.fn("LettaClient.getAgent")(function*(agentId: string) {
        const id = yield* checkAgentId(agentId)
        return yield* json(HttpClientRequest.get(`/v1/agents/${id}`), {
          schema: LettaSchema.AgentState,
          what: "agent",
          ids: { agentId: id }
        })
      }),
      createAgent: Effect.fn("LettaClient.createAgent")(function*(body: LettaSchema.CreateAgent) {
        return yield* json(post("/v1/agents/", Schema.encodeSync(LettaSchema.CreateAgent)(body)), {
          schema: LettaSchema.AgentState,
          what: "created agent"
        })
      }),
      deleteAgent: Effect.fn("LettaClient.deleteAgent")(function*(agentId: string) {
        const id = yield* checkAgentId(agentId)
        yield* json(HttpClientRequest.del(`/v1/agents/${id}`), { schema: Schema.Unknown, what: "agent deletion", ids: { agentId: id } })
      }),
      listMessages: Effect.fn("LettaClient.listMessages")(function*(agentId: string, query: ListMessagesQuery = {}) {
        const id = yield* checkAgentId(agentId)
        if (query.conversationId !== undefined) yield* checkConversationId(query.conversationId)
        const urlParams: Record<string, string> = {}
        if (query.limit !== undefined) urlParams.limit = String(query.limit)
        if (query.order !== undefined) urlParams.order = query.order
        if (query.before !== undefined) urlParams.before = query.before
        if (query.after !== undefined) urlParams.after = query.after
        if (query.conversationId !== undefined) urlParams.conversation_id = query.conversationId
        return yield* json(HttpClientRequest.get(`/v1/agents/${id}/messages`, { urlParams }), {
          schema: LettaSchema.MessageList,
          what: "message list",
          ids: { agentId: id }
        })
      }),
      health: json(HttpClientRequest.get("/v1/health/"), { schema: LettaSchema.Health, what: "health response" }).pipe(
        Effect.withSpan("LettaClient.health")
      ),
      createConversation: Effect.fn("LettaClient.createConversation")(function*(
        agentId: string,
        body: LettaSchema.CreateConversation = {}
      ) {
        const id = yield* checkAgentId(agentId)
        const request = HttpClientRequest.post("/v1/conversations/", { urlParams: { agent_id: id } }).pipe(
          HttpClientRequest.bodyUnsafeJson(Schema.encodeSync(LettaSchema.CreateConversation)(body))
        )
        return yield* json(request, { schema: LettaSchema.Conversation, what: "conversation", ids: { agentId: id } })
      }),
      getConversation: Effect.fn("LettaClient.getConversation")(function*(conversationId: string) {
        const id = yield* checkConversationId(conversationId)
        return yield* json(HttpClientRequest.get(`/v1/conversations/${id}`), {
          schema: LettaSchema.Conversation,
          what: "conversation",
          ids: { conversationId: id }
        })
      })
    })
  }
)

/**
 * The REST API over whatever `HttpClient` and `LettaConfig` are provided: the client, its background runs
 * (`LettaRuns`) and its identities (`LettaIdentities`).
 *
 * @category layers
 */
export const layer: Layer.Layer<
  LettaClient | LettaRuns.LettaRuns | LettaIdentities.LettaIdentities,
  never,
  HttpClient.HttpClient | LettaConfig.LettaConfig
> = Layer.mergeAll(Layer.effect(LettaClient, make), LettaRuns.layer, LettaIdentities.layer)

/**
 * The client and its runs with these settings, over the `HttpClient` of the context (on Node,
 * `HttpTransport.layer(settings)` of `@letta-pipeline/core/node` honours their TLS settings).
 *
 * @category layers
 */
export const layerSettings = (
  settings: LettaConfig.Settings
): Layer.Layer<
  LettaClient | LettaRuns.LettaRuns | LettaIdentities.LettaIdentities | LettaConfig.LettaConfig,
  never,
  HttpClient.HttpClient
> =>
  layer.pipe(Layer.provideMerge(Layer.succeed(LettaConfig.LettaConfig, settings)))

/**
 * The client and its runs with their settings from the environment (`LettaConfig.config`), over the `HttpClient` of
 * the context.
 *
 * @category layers
 */
export const layerConfig: Layer.Layer<
  LettaClient | LettaRuns.LettaRuns | LettaIdentities.LettaIdentities | LettaConfig.LettaConfig,
  ConfigError.ConfigError,
  HttpClient.HttpClient
> = layer.pipe(Layer.provideMerge(LettaConfig.layerConfig))

/**
 * A client whose methods are the given ones; any other method dies with "not implemented" when called.
 *
 * @category layers
 */
export const layerTest = (implementation: Partial<Service>): Layer.Layer<LettaClient> => {
  const missing = (name: string) => Effect.dieMessage(`LettaClient.${name} is not implemented in this test`)
  return Layer.succeed(
    LettaClient,
    LettaClient.of({
      streamMessage: () => Stream.fromEffect(missing("streamMessage")),
      streamConversation: () => Stream.fromEffect(missing("streamConversation")),
      sendMessage: () => missing("sendMessage"),
      sendConversation: () => missing("sendConversation"),
      listAgents: () => missing("listAgents"),
      getAgent: () => missing("getAgent"),
      createAgent: () => missing("createAgent"),
      deleteAgent: () => missing("deleteAgent"),
      listMessages: () => missing("listMessages"),
      health: missing("health"),
      createConversation: () => missing("createConversation"),
      getConversation: () => missing("getConversation"),
      ...implementation
    })
  )
}
