/**
 * Each person their own agent. A model in `per-user` mode names a **template** agent: a user's first message creates
 * that user's own agent from it (its system prompt, tools, tool rules, model settings and memory blocks as they are at
 * that moment), tagged with the template and the user and, on the REST API, attached to a Letta identity keyed by the
 * user (`PUT /v1/identities/`). Later messages of the user go to their agent; the map lives in `UserAgentStore`, so
 * replicas share it and a restart keeps it. A user whose agent is gone from Letta gets a fresh one (logged).
 *
 * Which models are `per-user`: those in the `per_user_models` valve (`PIPELINE_PER_USER_MODELS`), by agent id or
 * name, and every model when the `user_mode` valve (`PIPELINE_USER_MODE`) is `per-user`.
 *
 * @since 0.1.0
 */
import { LettaClient, LettaError, LettaIdentities, type LettaSchema } from "@letta-pipeline/core"
import { Clock, Context, Duration, Effect, Layer, Option } from "effect"
import type * as ChatUser from "./ChatUser.js"
import * as Metrics from "./Metrics.js"
import * as UserAgentStore from "./UserAgentStore.js"
import * as Valves from "./Valves.js"

/** Every user's own agent carries this tag; the model list leaves such agents out. @category constants */
export const userAgentTag = "letta-pipeline:user-agent"
/** The tag naming the template a user's agent was made from. @category constructors */
export const templateTag = (templateId: string): string => `letta-pipeline:template:${templateId}`
/** The tag naming the user an agent belongs to. @category constructors */
export const userTag = (userId: string): string => `letta-pipeline:user:${userId}`
/** The `identifier_key` of a user's Letta identity. @category constructors */
export const identityKey = (userId: string): string => `letta-pipeline:${userId}`

/** What a reset did. @category models */
export interface Reset {
  readonly previous: Option.Option<string>
  readonly agentId: string
  /** Whether the previous agent was deleted from Letta (else it is kept there). */
  readonly deleted: boolean
}

/** @category models */
export interface Service {
  /** Whether this model (as the request named it, and the agent it resolved to) gives each user their own agent. */
  readonly isPerUser: (model: string, templateId: string) => Effect.Effect<boolean, LettaError.PipelineError>
  /**
   * The user's own agent of this template: created on the user's first message (once across replicas), read from the
   * map on every call (a reset elsewhere takes effect at once), checked to exist in Letta once in a while; one gone
   * from Letta is replaced (logged).
   */
  readonly agentFor: (
    templateId: string,
    user: ChatUser.User
  ) => Effect.Effect<string, LettaError.PipelineError | LettaError.StoreError>
  /** Forget that this agent was seen to exist, after a turn found it gone: the next message replaces it. */
  readonly forget: (agentId: string) => Effect.Effect<void>
  /** Every user's agent, as the store holds them. */
  readonly list: Effect.Effect<ReadonlyArray<UserAgentStore.Entry>, LettaError.StoreError>
  /**
   * A new agent from the template for this user, replacing their current one in the map; the previous agent is kept
   * in Letta unless `deletePrevious`.
   */
  readonly reset: (
    templateId: string,
    user: ChatUser.User,
    options?: { readonly deletePrevious?: boolean | undefined }
  ) => Effect.Effect<Reset, LettaError.PipelineError | LettaError.StoreError>
}

/** @category services */
export class UserAgents extends Context.Tag("@letta-pipeline/server/UserAgents")<UserAgents, Service>() {}

/** How long what Letta said of an agent (that it exists, its name) is taken as still true. */
const rememberFor = Duration.minutes(10)
/** How many such facts are remembered at most. */
const rememberAtMost = 10_000

/** A bounded memo with a time to live; insertion-ordered, so the oldest entry is the first to go past the bound. */
const memo = <A>() => {
  const entries = new Map<string, { readonly value: A; readonly until: number }>()
  return {
    get: (key: string, now: number): A | undefined => {
      const hit = entries.get(key)
      return hit !== undefined && hit.until > now ? hit.value : undefined
    },
    set: (key: string, value: A, now: number): void => {
      entries.delete(key)
      entries.set(key, { value, until: now + Duration.toMillis(rememberFor) })
      if (entries.size > rememberAtMost) entries.delete(entries.keys().next().value ?? key)
    },
    delete: (key: string): void => void entries.delete(key)
  }
}

/** Letta's answer that the agent (or conversation) does not exist. @category guards */
export const isNotFound = (error: LettaError.PipelineError | LettaError.StoreError): boolean =>
  error._tag === "LettaError" && error.reason === "NotFound"

/** The body that makes a user's copy of a template, as Letta's `CreateAgentRequest`. @category constructors */
export const copyOf = (
  template: LettaSchema.AgentState,
  user: ChatUser.User,
  identityId: Option.Option<string>
): LettaSchema.CreateAgent => ({
  name: `${template.name} for ${user.name ?? user.id}`.slice(0, 200),
  ...(template.system == null ? {} : { system: template.system }),
  ...(template.agent_type == null ? {} : { agent_type: template.agent_type }),
  ...(template.description == null ? {} : { description: template.description }),
  ...(template.model == null ? {} : { model: template.model }),
  ...(template.embedding == null ? {} : { embedding: template.embedding }),
  ...(template.llm_config == null ? {} : { llm_config: template.llm_config }),
  ...(template.embedding_config == null ? {} : { embedding_config: template.embedding_config }),
  ...(template.tool_rules == null ? {} : { tool_rules: template.tool_rules }),
  memory_blocks: (template.memory?.blocks ?? []).map((block) => ({
    label: block.label ?? "memory",
    value: block.value,
    ...(block.limit == null ? {} : { limit: block.limit }),
    ...(block.description == null ? {} : { description: block.description }),
    ...(block.read_only == null ? {} : { read_only: block.read_only })
  })),
  tool_ids: (template.tools ?? []).flatMap((tool) => (tool.id == null ? [] : [tool.id])),
  // the template's tools exactly, not Letta's base tools on top of them
  include_base_tools: false,
  tags: [userAgentTag, templateTag(template.id), userTag(user.id)],
  ...(Option.isSome(identityId) ? { identity_ids: [identityId.value] } : {}),
  metadata: { letta_pipeline_template_id: template.id, letta_pipeline_user_id: user.id }
})

/** @category layers */
export const layer: Layer.Layer<
  UserAgents,
  never,
  LettaClient.LettaClient | UserAgentStore.UserAgentStore | Valves.ValvesStore | Metrics.Metrics
> = Layer.effect(
  UserAgents,
  Effect.gen(function*() {
    const client = yield* LettaClient.LettaClient
    // only the REST API has identities; over the App Server a user's agent is known by its tags and the map alone
    const identities = yield* Effect.serviceOption(LettaIdentities.LettaIdentities)
    const store = yield* UserAgentStore.UserAgentStore
    const valves = yield* Valves.ValvesStore
    const metrics = yield* Metrics.Metrics

    const create = (templateId: string, user: ChatUser.User, reason: "first" | "replaced" | "reset") =>
      Effect.gen(function*() {
        const template = yield* client.getAgent(templateId)
        const identity = yield* Option.match(identities, {
          onNone: () => Effect.succeedNone,
          onSome: (service) =>
            Effect.map(
              service.upsert({ identifier_key: identityKey(user.id), name: user.name ?? user.id, identity_type: "user" }),
              (found) => Option.some(found.id)
            )
        })
        const agent = yield* client.createAgent(copyOf(template, user, identity))
        yield* metrics.userAgentCreated(reason)
        yield* Effect.logInfo(`Created agent ${agent.id} for user ${user.id} from template ${templateId} (${reason})`)
        return agent.id
      })

    // what Letta said lately, remembered a while so that a turn asks it nothing: agents seen to exist, template names
    const existing = memo<true>()
    const names = memo<string>()

    // the map is read on every turn (one store lookup, as for the chat's conversation), so that a reset or a
    // replacement made by another replica or the CLI takes effect at once; Letta is asked once in a while
    const agentFor = (templateId: string, user: ChatUser.User) =>
      Effect.gen(function*() {
        const agentId = yield* store.getOrCreate(templateId, user.id, create(templateId, user, "first"))
        const now = yield* Clock.currentTimeMillis
        if (existing.get(agentId, now) !== undefined) return agentId
        const exists = yield* client.getAgent(agentId).pipe(
          Effect.as(true),
          Effect.catchIf(isNotFound, () => Effect.succeed(false))
        )
        if (exists) {
          existing.set(agentId, true, now)
          return agentId
        }
        yield* Effect.logWarning(`Agent ${agentId} of user ${user.id} (template ${templateId}) is gone from Letta: creating a new one`)
        return yield* store.replace(templateId, user.id, agentId, create(templateId, user, "replaced"))
      })

    const isPerUser = (model: string, templateId: string) =>
      Effect.gen(function*() {
        const { per_user_models, user_mode } = yield* valves.get
        if (user_mode === "per-user" || per_user_models.includes(model) || per_user_models.includes(templateId)) return true
        // a name in the list: the template's name decides
        if (per_user_models.every((entry) => entry.startsWith("agent-"))) return false
        const now = yield* Clock.currentTimeMillis
        const name = names.get(templateId, now) ?? (yield* Effect.map(client.getAgent(templateId), (agent) => {
          names.set(templateId, agent.name, now)
          return agent.name
        }))
        return per_user_models.includes(name)
      })

    return UserAgents.of({
      isPerUser,
      agentFor,
      forget: (agentId) => Effect.sync(() => existing.delete(agentId)),
      list: store.list,
      reset: (templateId, user, options = {}) =>
        Effect.gen(function*() {
          const previous = Option.fromNullable(
            (yield* store.list).find((entry) => entry.templateId === templateId && entry.userId === user.id)?.agentId
          )
          const agentId = yield* Option.match(previous, {
            onNone: () => store.getOrCreate(templateId, user.id, create(templateId, user, "reset")),
            onSome: (stale) => store.replace(templateId, user.id, stale, create(templateId, user, "reset"))
          })
          const deleted = options.deletePrevious === true && Option.isSome(previous)
            ? yield* client.deleteAgent(previous.value).pipe(Effect.as(true), Effect.catchIf(isNotFound, () => Effect.succeed(false)))
            : false
          return { previous, agentId, deleted }
        })
    })
  })
)
