/**
 * The emulator's memory: agents (with their memory blocks), identities, conversations, message history per thread and
 * runs. In a `Ref`, gone at exit.
 *
 * A thread is an agent's default history (`agent:<id>`) or a conversation (`conv:<id>`). Which agents an identity has
 * is kept on the identity only (Letta's link table): an agent's `identity_ids` are read from the identities, so the two
 * sides never disagree.
 *
 * @since 0.1.0
 */
import type { LettaSchema } from "@letta-pipeline/core"
import { Chunk, Context, Deferred, Effect, Either, HashMap, Layer, Option, Ref } from "effect"
import * as RouteError from "./RouteError.js"
import * as Wire from "./Wire.js"

/** A JSON object passed on as the client sent it (model configs, tool rules, metadata). @category models */
export type JsonObject = Readonly<Record<string, unknown>>

/** `AgentState` with every key the spec requires. @category models */
export interface Agent {
  readonly created_by_id: null
  readonly last_updated_by_id: null
  readonly created_at: string
  readonly updated_at: string
  readonly id: string
  readonly name: string
  readonly system: string
  readonly agent_type: "letta_v1_agent"
  readonly llm_config: JsonObject
  readonly embedding_config: JsonObject | null
  readonly model: string
  readonly embedding: string | null
  readonly description: string | null
  readonly metadata: JsonObject | null
  readonly memory: { readonly blocks: ReadonlyArray<Block> }
  readonly blocks: ReadonlyArray<Block>
  readonly tools: ReadonlyArray<Tool>
  readonly tool_rules: ReadonlyArray<JsonObject>
  readonly sources: ReadonlyArray<never>
  readonly tags: ReadonlyArray<string>
  /** Read from the identities whenever the agent is read. */
  readonly identity_ids: ReadonlyArray<string>
  readonly last_stop_reason: string | null
}

/** A memory block (`Block` of Letta's spec). @category models */
export interface Block {
  readonly id: string
  readonly value: string
  readonly limit: number
  readonly label: string
  readonly description: string | null
  readonly read_only: boolean
}

/** A tool (`Tool` of Letta's spec, the keys the emulator fills). @category models */
export interface Tool {
  readonly id: string
  readonly tool_type: "letta_core" | "letta_memory_core" | "letta_builtin"
  readonly description: string
  readonly name: string
  readonly tags: ReadonlyArray<string>
  readonly created_by_id: null
  readonly last_updated_by_id: null
}

/** `Identity` of Letta's spec. @category models */
export interface Identity {
  readonly id: string
  readonly identifier_key: string
  readonly name: string
  readonly identity_type: "org" | "user" | "other"
  readonly project_id: null
  readonly agent_ids: ReadonlyArray<string>
  readonly block_ids: ReadonlyArray<never>
  readonly properties: ReadonlyArray<never>
}

/** @category models */
export interface Conversation {
  readonly created_by_id: null
  readonly last_updated_by_id: null
  readonly created_at: string
  readonly updated_at: string
  readonly id: string
  readonly agent_id: string
  readonly summary: string | null
  readonly in_context_message_ids: ReadonlyArray<string>
  readonly isolated_block_ids: ReadonlyArray<string>
  readonly model: null
  readonly model_settings: null
  readonly last_message_at: string | null
}

/** `Run` as Letta serialises it. @category models */
export interface Run {
  readonly id: string
  readonly status: LettaSchema.RunStatus
  readonly created_at: string
  readonly completed_at: string | null
  readonly agent_id: string
  readonly conversation_id: string | null
  readonly base_template_id: null
  readonly background: boolean
  readonly metadata: null
  readonly request_config: null
  readonly stop_reason: string | null
  readonly callback_url: null
  readonly callback_sent_at: null
  readonly callback_status_code: null
  readonly callback_error: null
  readonly ttft_ns: number | null
  readonly total_duration_ns: number | null
}

/** @category models */
export interface RunRecord {
  readonly run: Run
  /** Messages the run produced (the user's message first), complete. */
  readonly messages: Chunk.Chunk<LettaSchema.LettaMessage>
  /** A background run's SSE frames, numbered from 1, for resuming. */
  readonly frames: Chunk.Chunk<string>
  /** Completed by `POST …/messages/cancel`. */
  readonly cancel: Deferred.Deferred<void>
}

interface State {
  readonly agents: HashMap.HashMap<string, Agent>
  readonly agentOrder: Chunk.Chunk<string>
  readonly identities: HashMap.HashMap<string, Identity>
  readonly identityOrder: Chunk.Chunk<string>
  readonly conversations: HashMap.HashMap<string, Conversation>
  readonly threads: HashMap.HashMap<string, Chunk.Chunk<LettaSchema.LettaMessage>>
  readonly runs: HashMap.HashMap<string, RunRecord>
}

/** A memory block to create (`CreateBlock`, the keys the emulator keeps). @category models */
export interface CreateBlock {
  readonly label: string
  readonly value: string
  readonly limit?: number | undefined
  readonly description?: string | undefined
  readonly read_only?: boolean | undefined
}

/** What `POST /v1/agents/` applies (Letta's `CreateAgentRequest`, the keys the emulator keeps). @category models */
export interface CreateAgent {
  /** A fixed id (the demo agent's); otherwise a fresh `agent-<uuid4>`. */
  readonly id?: string | undefined
  readonly name?: string | undefined
  readonly system?: string | undefined
  readonly description?: string | undefined
  readonly tags?: ReadonlyArray<string> | undefined
  /** The agent's blocks; absent: the emulator's default `persona` and `human`. */
  readonly memory_blocks?: ReadonlyArray<CreateBlock> | undefined
  /** Each must be one of `tools`, else a 404. */
  readonly tool_ids?: ReadonlyArray<string> | undefined
  /** Letta's default is true: every tool of `tools` on top of `tool_ids`. */
  readonly include_base_tools?: boolean | undefined
  readonly tool_rules?: ReadonlyArray<JsonObject> | undefined
  /** Each must name an identity, else a 404; the identity gains the agent. */
  readonly identity_ids?: ReadonlyArray<string> | undefined
  readonly llm_config?: JsonObject | undefined
  readonly embedding_config?: JsonObject | undefined
  /** A model handle, `provider/model`. */
  readonly model?: string | undefined
  readonly embedding?: string | undefined
  readonly metadata?: JsonObject | undefined
}

/** What creating or upserting an identity takes (`IdentityCreate` / `IdentityUpsert`). @category models */
export interface IdentityInput {
  readonly identifier_key: string
  readonly name: string
  readonly identity_type: Identity["identity_type"]
  /** Replaces the identity's agents when given; each must name an agent, else a 404. */
  readonly agent_ids?: ReadonlyArray<string> | null | undefined
}

/** @category models */
export interface Service {
  /** Fails when a tool or identity it names does not exist (nothing is created then). */
  readonly createAgent: (input: CreateAgent) => Effect.Effect<Agent, RouteError.NotFound>
  /** Oldest first. */
  readonly agents: Effect.Effect<ReadonlyArray<Agent>>
  readonly agent: (id: string) => Effect.Effect<Option.Option<Agent>>
  /**
   * Appends `"\n" + content` to the agent's block `label` (`core_memory_append`), creating the block with `content`
   * when the agent has none of that label.
   */
  readonly appendMemory: (agentId: string, label: string, content: string) => Effect.Effect<void>
  /** Creates an identity; 409 when its `identifier_key` is taken, 404 for an unknown agent. */
  readonly createIdentity: (input: IdentityInput) => Effect.Effect<Identity, RouteError.Refused | RouteError.NotFound>
  /** The identity of this `identifier_key`, created or updated (name, type, and agents when given). */
  readonly upsertIdentity: (input: IdentityInput) => Effect.Effect<Identity, RouteError.NotFound>
  /** Oldest first. */
  readonly identities: Effect.Effect<ReadonlyArray<Identity>>
  readonly identity: (id: string) => Effect.Effect<Option.Option<Identity>>
  /** Deletes an identity (its agents stay); whether it existed. */
  readonly deleteIdentity: (id: string) => Effect.Effect<boolean>
  readonly createConversation: (agentId: string, summary?: string) => Effect.Effect<Conversation>
  readonly conversation: (id: string) => Effect.Effect<Option.Option<Conversation>>
  /** Deletes a conversation and its history; whether it existed. */
  readonly deleteConversation: (id: string) => Effect.Effect<boolean>
  /**
   * Removes an agent, and it from its identities (its conversations stay, as orphans Letta no longer serves); false
   * when it did not exist.
   */
  readonly deleteAgent: (id: string) => Effect.Effect<boolean>
  readonly thread: (key: string) => Effect.Effect<Chunk.Chunk<LettaSchema.LettaMessage>>
  readonly createRun: (agentId: string, conversationId: string | null, background: boolean) => Effect.Effect<RunRecord>
  readonly run: (id: string) => Effect.Effect<Option.Option<RunRecord>>
  /** Appends complete messages to a thread and to the run that made them. */
  readonly record: (runId: string, thread: string, messages: ReadonlyArray<LettaSchema.LettaMessage>) => Effect.Effect<void>
  /** Appends a frame to a background run's buffer; `frame` gets its sequence number. */
  readonly appendFrame: (runId: string, frame: (seq: number) => string) => Effect.Effect<void>
  readonly updateRun: (runId: string, update: (run: Run) => Run) => Effect.Effect<void>
  readonly activeRuns: (agentId: string) => Effect.Effect<ReadonlyArray<RunRecord>>
}

/** @category services */
export class Store extends Context.Tag("@letta-pipeline/emulator/Store")<Store, Service>() {}

/** The thread key of an agent's default history. @category constructors */
export const agentThread = (agentId: string): string => `agent:${agentId}`
/** The thread key of a conversation. @category constructors */
export const conversationThread = (conversationId: string): string => `conv:${conversationId}`

/** Letta's default block limit (`CORE_MEMORY_BLOCK_CHAR_LIMIT`). */
const blockLimit = 20000

const block = (input: CreateBlock): Effect.Effect<Block> =>
  Effect.map(Wire.id("block"), (id) => ({
    id,
    value: input.value,
    limit: input.limit ?? blockLimit,
    label: input.label,
    description: input.description ?? null,
    read_only: input.read_only ?? false
  }))

const defaultBlocks: ReadonlyArray<CreateBlock> = [
  { label: "persona", value: "I am an emulated Letta agent. I answer deterministically." },
  { label: "human", value: "Nothing is known about the human yet." }
]

const tool = (id: string, name: string, toolType: Tool["tool_type"], description: string): Tool => ({
  id,
  tool_type: toolType,
  description,
  name,
  tags: [],
  created_by_id: null,
  last_updated_by_id: null
})

/**
 * The emulator's tools, with fixed ids: the memory and search tools Letta attaches as base tools, and the
 * `web_search` the stub calls. `include_base_tools` attaches them all.
 *
 * @category constructors
 */
export const tools: ReadonlyArray<Tool> = [
  tool(
    "tool-0e1f2a3b-0000-4000-8000-000000000001",
    "conversation_search",
    "letta_core",
    "Search prior conversation history."
  ),
  tool(
    "tool-0e1f2a3b-0000-4000-8000-000000000002",
    "core_memory_append",
    "letta_memory_core",
    "Append to the contents of core memory."
  ),
  tool(
    "tool-0e1f2a3b-0000-4000-8000-000000000003",
    "core_memory_replace",
    "letta_memory_core",
    "Replace the contents of core memory."
  ),
  tool("tool-0e1f2a3b-0000-4000-8000-000000000004", "web_search", "letta_builtin", "Search the web.")
]

/** The default model, when a request names none. */
const defaultLlmConfig: JsonObject = {
  model: "emulated-llm",
  model_endpoint_type: "openai",
  context_window: 32000,
  handle: "openai/emulated-llm"
}

/** An `llm_config` for a model handle (`provider/model`), as Letta resolves it for its own providers. */
const llmConfigOf = (handle: string): JsonObject => {
  const slash = handle.indexOf("/")
  return {
    model: slash === -1 ? handle : handle.slice(slash + 1),
    model_endpoint_type: slash === -1 ? "openai" : handle.slice(0, slash),
    context_window: 32000,
    handle
  }
}

/** An `embedding_config` for an embedding handle. */
const embeddingConfigOf = (handle: string): JsonObject => {
  const slash = handle.indexOf("/")
  return {
    embedding_endpoint_type: slash === -1 ? "openai" : handle.slice(0, slash),
    embedding_model: slash === -1 ? handle : handle.slice(slash + 1),
    embedding_dim: 1536,
    handle
  }
}

const handleOf = (config: JsonObject, fallback: string): string => {
  if (typeof config.handle === "string") return config.handle
  return typeof config.model_endpoint_type === "string" && typeof config.model === "string"
    ? `${config.model_endpoint_type}/${config.model}`
    : fallback
}

/** The agent as Letta serves it: its `identity_ids` read from the identities. */
const view = (s: State) => (agent: Agent): Agent => ({
  ...agent,
  identity_ids: Chunk.toReadonlyArray(
    Chunk.filter(s.identityOrder, (id) =>
      Option.exists(HashMap.get(s.identities, id), (identity) => identity.agent_ids.includes(agent.id)))
  )
})

/** The first of `ids` with no entry in `map`. */
const firstMissing = <A>(map: HashMap.HashMap<string, A>, ids: ReadonlyArray<string> | null | undefined) =>
  Option.fromNullable((ids ?? []).find((id) => !HashMap.has(map, id)))

/** Letta's unique-constraint answer. */
const duplicate = () =>
  new RouteError.Refused({
    status: 409,
    detail: "A unique constraint was violated. Check your request for duplicate data."
  })

/** @category constructors */
export const make: Effect.Effect<Service> = Effect.gen(function*() {
  const state = yield* Ref.make<State>({
    agents: HashMap.empty(),
    agentOrder: Chunk.empty(),
    identities: HashMap.empty(),
    identityOrder: Chunk.empty(),
    conversations: HashMap.empty(),
    threads: HashMap.empty(),
    runs: HashMap.empty()
  })

  const createAgent = Effect.fn("Store.createAgent")(function*(input: CreateAgent) {
    const id = input.id ?? (yield* Wire.id("agent"))
    const date = yield* Wire.now
    const blocks = yield* Effect.forEach(input.memory_blocks ?? defaultBlocks, block)
    const named = (input.tool_ids ?? []).map((toolId) => tools.find((t) => t.id === toolId))
    const unknownTool = (input.tool_ids ?? []).find((_, i) => named[i] === undefined)
    if (unknownTool !== undefined) return yield* new RouteError.NotFound({ resource: "Tool", id: unknownTool })
    const attached = [...(input.include_base_tools === false ? [] : tools), ...named.flatMap((t) => t ?? [])]
    const llmConfig = input.llm_config ?? (input.model === undefined ? defaultLlmConfig : llmConfigOf(input.model))
    const agent: Agent = {
      created_by_id: null,
      last_updated_by_id: null,
      created_at: date,
      updated_at: date,
      id,
      name: input.name ?? `agent-${id.slice(6, 14)}`,
      system: input.system ?? "You are a helpful assistant.",
      agent_type: "letta_v1_agent",
      llm_config: llmConfig,
      embedding_config: input.embedding_config ??
        (input.embedding === undefined ? null : embeddingConfigOf(input.embedding)),
      model: input.model ?? handleOf(llmConfig, "openai/emulated-llm"),
      embedding: input.embedding ?? null,
      description: input.description ?? null,
      metadata: input.metadata ?? null,
      memory: { blocks },
      blocks,
      tools: attached.filter((t, i) => attached.findIndex((other) => other.id === t.id) === i),
      tool_rules: input.tool_rules ?? [],
      sources: [],
      tags: input.tags ?? [],
      identity_ids: [],
      last_stop_reason: null
    }
    // the identities are checked and linked in the same update, so that a concurrent delete cannot slip between
    const created = yield* Ref.modify(state, (s): [Either.Either<Agent, RouteError.NotFound>, State] => {
      const missing = firstMissing(s.identities, input.identity_ids)
      if (Option.isSome(missing)) {
        return [Either.left(new RouteError.NotFound({ resource: "Identity", id: missing.value })), s]
      }
      const linked = (input.identity_ids ?? []).reduce(
        (identities, identityId) =>
          HashMap.modify(identities, identityId, (identity) =>
            identity.agent_ids.includes(id) ? identity : { ...identity, agent_ids: [...identity.agent_ids, id] }),
        s.identities
      )
      const next: State = {
        ...s,
        agents: HashMap.set(s.agents, id, agent),
        agentOrder: Chunk.append(s.agentOrder, id),
        identities: linked
      }
      return [Either.right(view(next)(agent)), next]
    })
    return yield* created
  })

  const appendMemory = (agentId: string, label: string, content: string) =>
    Effect.gen(function*() {
      const fresh = yield* block({ label, value: content })
      const date = yield* Wire.now
      yield* Ref.update(state, (s) => ({
        ...s,
        agents: HashMap.modify(s.agents, agentId, (agent) => {
          const blocks = agent.memory.blocks.some((b) => b.label === label)
            ? agent.memory.blocks.map((b) => (b.label === label ? { ...b, value: `${b.value}\n${content}` } : b))
            : [...agent.memory.blocks, fresh]
          return { ...agent, memory: { blocks }, blocks, updated_at: date }
        })
      }))
    })

  /** Creates the identity of `input`; one that exists with its key is updated or refused, as `onExisting` says. */
  const putIdentity = (input: IdentityInput, onExisting: "update" | "refuse") =>
    Effect.gen(function*() {
      const fresh = yield* Wire.id("identity")
      const result = yield* Ref.modify(
        state,
        (s): [Either.Either<Identity, RouteError.NotFound | RouteError.Refused>, State] => {
          const missing = firstMissing(s.agents, input.agent_ids)
          if (Option.isSome(missing)) {
            return [Either.left(new RouteError.NotFound({ resource: "Agent", id: missing.value })), s]
          }
          const existing = Array.from(HashMap.values(s.identities)).find((i) =>
            i.identifier_key === input.identifier_key
          )
          if (existing !== undefined && onExisting === "refuse") return [Either.left(duplicate()), s]
          const identity: Identity = {
            id: existing?.id ?? fresh,
            identifier_key: input.identifier_key,
            name: input.name,
            identity_type: input.identity_type,
            project_id: null,
            agent_ids: input.agent_ids ?? existing?.agent_ids ?? [],
            block_ids: [],
            properties: []
          }
          return [Either.right(identity), {
            ...s,
            identities: HashMap.set(s.identities, identity.id, identity),
            identityOrder: existing === undefined ? Chunk.append(s.identityOrder, identity.id) : s.identityOrder
          }]
        }
      )
      return yield* result
    })

  const agents = Effect.map(Ref.get(state), (s) =>
    Chunk.toReadonlyArray(Chunk.filterMap(s.agentOrder, (id) => Option.map(HashMap.get(s.agents, id), view(s)))))

  const createConversation = Effect.fn("Store.createConversation")(function*(agentId: string, summary?: string) {
    const date = yield* Wire.now
    const conversation: Conversation = {
      created_by_id: null,
      last_updated_by_id: null,
      created_at: date,
      updated_at: date,
      id: yield* Wire.id("conv"),
      agent_id: agentId,
      summary: summary ?? null,
      in_context_message_ids: [],
      isolated_block_ids: [],
      model: null,
      model_settings: null,
      last_message_at: null
    }
    yield* Ref.update(state, (s) => ({ ...s, conversations: HashMap.set(s.conversations, conversation.id, conversation) }))
    return conversation
  })

  const createRun = Effect.fn("Store.createRun")(function*(
    agentId: string,
    conversationId: string | null,
    background: boolean
  ) {
    const record: RunRecord = {
      run: {
        id: yield* Wire.id("run"),
        status: "created",
        created_at: yield* Wire.now,
        completed_at: null,
        agent_id: agentId,
        conversation_id: conversationId,
        base_template_id: null,
        background,
        metadata: null,
        request_config: null,
        stop_reason: null,
        callback_url: null,
        callback_sent_at: null,
        callback_status_code: null,
        callback_error: null,
        ttft_ns: null,
        total_duration_ns: null
      },
      messages: Chunk.empty(),
      frames: Chunk.empty(),
      cancel: yield* Deferred.make<void>()
    }
    yield* Ref.update(state, (s) => ({ ...s, runs: HashMap.set(s.runs, record.run.id, record) }))
    return record
  })

  const modifyRun = (runId: string, update: (record: RunRecord) => RunRecord) =>
    Ref.update(state, (s) => ({ ...s, runs: HashMap.modify(s.runs, runId, update) }))

  return Store.of({
    createAgent,
    agents,
    agent: (id) => Effect.map(Ref.get(state), (s) => Option.map(HashMap.get(s.agents, id), view(s))),
    appendMemory,
    createIdentity: (input) => putIdentity(input, "refuse"),
    // an upsert updates what exists: a 409 here would be a bug
    upsertIdentity: (input) => Effect.catchTag(putIdentity(input, "update"), "Refused", Effect.die),
    identities: Effect.map(Ref.get(state), (s) =>
      Chunk.toReadonlyArray(Chunk.filterMap(s.identityOrder, (id) => HashMap.get(s.identities, id)))),
    identity: (id) => Effect.map(Ref.get(state), (s) => HashMap.get(s.identities, id)),
    deleteIdentity: (id) =>
      Ref.modify(state, (s) => [
        HashMap.has(s.identities, id),
        {
          ...s,
          identities: HashMap.remove(s.identities, id),
          identityOrder: Chunk.filter(s.identityOrder, (other) => other !== id)
        }
      ]),
    createConversation,
    conversation: (id) => Effect.map(Ref.get(state), (s) => HashMap.get(s.conversations, id)),
    deleteConversation: (id) =>
      Ref.modify(state, (s) => [
        HashMap.has(s.conversations, id),
        {
          ...s,
          conversations: HashMap.remove(s.conversations, id),
          threads: HashMap.remove(s.threads, conversationThread(id))
        }
      ]),
    deleteAgent: (id) =>
      Ref.modify(state, (s) => [
        HashMap.has(s.agents, id),
        {
          ...s,
          agents: HashMap.remove(s.agents, id),
          agentOrder: Chunk.filter(s.agentOrder, (other) => other !== id),
          identities: HashMap.map(s.identities, (identity) =>
            identity.agent_ids.includes(id)
              ? { ...identity, agent_ids: identity.agent_ids.filter((other) => other !== id) }
              : identity)
        }
      ]),
    thread: (key) => Effect.map(Ref.get(state), (s) => Option.getOrElse(HashMap.get(s.threads, key), Chunk.empty)),
    createRun,
    run: (id) => Effect.map(Ref.get(state), (s) => HashMap.get(s.runs, id)),
    record: (runId, thread, messages) =>
      Ref.update(state, (s) => ({
        ...s,
        threads: HashMap.set(
          s.threads,
          thread,
          Chunk.appendAll(Option.getOrElse(HashMap.get(s.threads, thread), Chunk.empty), Chunk.fromIterable(messages))
        ),
        runs: HashMap.modify(s.runs, runId, (r) => ({ ...r, messages: Chunk.appendAll(r.messages, Chunk.fromIterable(messages)) }))
      })),
    appendFrame: (runId, frame) =>
      modifyRun(runId, (r) => ({ ...r, frames: Chunk.append(r.frames, frame(Chunk.size(r.frames) + 1)) })),
    updateRun: (runId, update) => modifyRun(runId, (r) => ({ ...r, run: update(r.run) })),
    activeRuns: (agentId) =>
      Effect.map(Ref.get(state), (s) =>
        Array.from(HashMap.values(s.runs)).filter((r) =>
          r.run.agent_id === agentId && (r.run.status === "created" || r.run.status === "running")
        ))
  })
})

/** @category layers */
export const layer: Layer.Layer<Store> = Layer.effect(Store, make)
