/**
 * Letta agents as models: what `/v1/models` lists and how a request's `model` becomes an agent id.
 *
 * @since 0.1.0
 */
import { LettaClient, LettaConfig, LettaError, LettaSchema } from "@letta-pipeline/core"
import { Context, Effect, Layer, Option, Schema } from "effect"
import * as ServerConfig from "./ServerConfig.js"
import * as UserAgents from "./UserAgents.js"
import * as Valves from "./Valves.js"

/** @category models */
export interface Service {
  /** The agents offered as models: `LETTA_AGENT_ID` alone when set, else every agent (with a valve tag when set). */
  readonly list: Effect.Effect<ReadonlyArray<LettaSchema.AgentState>, LettaError.PipelineError>
  /** An agent id from a model: an agent id, `<pipeline id>.<agent id>`, or an agent's name (not one starting `agent-`). */
  readonly resolve: (model: string) => Effect.Effect<string, LettaError.PipelineError>
  /**
   * Succeeds when the conversation a client names (`conversation_id` on `/v1/pipe`, `/v1/ws`) belongs to the agent,
   * as Letta says; one of another agent fails as not found, so that its existence does not show.
   */
  readonly checkConversation: (agentId: string, conversationId: string) => Effect.Effect<void, LettaError.PipelineError>
}

/** @category services */
export class Models extends Context.Tag("@letta-pipeline/server/Models")<Models, Service>() {}

const isAgentId = Schema.is(LettaSchema.AgentId)

/** @category layers */
export const layer: Layer.Layer<
  Models,
  never,
  LettaClient.LettaClient | LettaConfig.LettaConfig | ServerConfig.ServerConfig | Valves.ValvesStore
> = Layer.effect(
  Models,
  Effect.gen(function*() {
    const client = yield* LettaClient.LettaClient
    const letta = yield* LettaConfig.LettaConfig
    const server = yield* ServerConfig.ServerConfig
    const valves = yield* Valves.ValvesStore

    /**
     * The one rule of which agents are offered, asked by every surface (listing, and a model given by id or name):
     * `LETTA_AGENT_ID` alone when set; else every agent, or those carrying one of the valve's tags when set; never a
     * user's own agent (`UserAgents`), which its template stands for.
     */
    const offered = (agent: LettaSchema.AgentState, tags: ReadonlyArray<string>): boolean =>
      Option.match(letta.agentId, { onSome: (only) => agent.id === only, onNone: () => true }) &&
      // a user's own agent is reached through its template, never listed or named
      !(agent.tags ?? []).includes(UserAgents.userAgentTag) &&
      (tags.length === 0 || (agent.tags ?? []).some((tag) => tags.includes(tag)))

    const list: Effect.Effect<ReadonlyArray<LettaSchema.AgentState>, LettaError.PipelineError> = Effect.gen(function*() {
      const tags = (yield* valves.get).agent_tags
      const agents = Option.isSome(letta.agentId)
        ? [yield* client.getAgent(letta.agentId.value)]
        // Letta filters by tag (any of them); the rule is applied again, whatever a server does with the filter
        : yield* client.listAgents(tags.length === 0 ? {} : { tags })
      return agents.filter((agent) => offered(agent, tags))
    })

    const unknownModel = (model: string) =>
      new LettaError.LettaError({
        reason: "NotFound",
        detail: `the model ${JSON.stringify(model)} is not an agent offered here (see GET /v1/models)`
      })

    const resolve = (model: string): Effect.Effect<string, LettaError.PipelineError> => {
      const name = model.startsWith(`${server.pipelineId}.`) ? model.slice(server.pipelineId.length + 1) : model
      // looks like an id but is not one (`agent-…/../x`, a look-alike letter): refused before any call to Letta
      if (name.startsWith("agent-") && !isAgentId(name)) return LettaClient.checkAgentId(name)
      if (isAgentId(name)) {
        return Effect.flatMap(valves.get, (v) =>
          Option.isSome(letta.agentId) && letta.agentId.value !== name
            ? Effect.fail(unknownModel(model))
            : v.agent_tags.length === 0
            ? Effect.succeed(name)
            // with a tag allowlist, an id is served only if its agent carries one of the tags
            : Effect.flatMap(
              Effect.catchIf(client.getAgent(name), UserAgents.isNotFound, () => Effect.fail(unknownModel(model))),
              (agent) => offered(agent, v.agent_tags) ? Effect.succeed(name) : Effect.fail(unknownModel(model))
            ))
      }
      return Effect.flatMap(list, (agents) => {
        const found = agents.find((agent) => agent.name === name)
        return found !== undefined ? Effect.succeed(found.id) : Effect.fail(unknownModel(model))
      })
    }

    const checkConversation = (agentId: string, conversationId: string): Effect.Effect<void, LettaError.PipelineError> => {
      const notOurs = new LettaError.LettaError({
        reason: "NotFound",
        detail: `the conversation ${conversationId} is not this agent's: it no longer exists in Letta, or it belongs to another agent`,
        agentId
      })
      return client.getConversation(conversationId).pipe(
        Effect.catchIf(UserAgents.isNotFound, () => Effect.fail(notOurs)),
        Effect.filterOrFail((conversation) => conversation.agent_id === agentId, () => notOurs),
        Effect.asVoid
      )
    }

    return Models.of({ list, resolve, checkConversation })
  })
)
