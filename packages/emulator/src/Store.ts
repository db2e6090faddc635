/**
 * The emulator's memory: agents, conversations, message history per thread and runs. In a `Ref`, gone at exit.
 *
 * A thread is an agent's default history (`agent:<id>`) or a conversation (`conv:<id>`).
 *
 * @since 0.1.0
 */
import type { LettaSchema } from "@letta-pipeline/core"
import { Chunk, Context, Deferred, Effect, HashMap, Layer, Option, Ref } from "effect"
import * as Wire from "./Wire.js"

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
  readonly llm_config: {
    readonly model: string
    readonly model_endpoint_type: "openai"
    readonly context_window: number
  }
  readonly model: string
  readonly description: string | null
  readonly metadata: Readonly<Record<string, unknown>> | null
  readonly memory: { readonly blocks: ReadonlyArray<Block> }
  readonly blocks: ReadonlyArray<Block>
  readonly tools: ReadonlyArray<never>
  readonly sources: ReadonlyArray<never>
  readonly tags: ReadonlyArray<string>
  readonly last_stop_reason: string | null
}

/** @category models */
export interface Block {
  readonly value: string
  readonly limit: number
  readonly label: string
  readonly description: string | null
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
  readonly conversations: HashMap.HashMap<string, Conversation>
  readonly threads: HashMap.HashMap<string, Chunk.Chunk<LettaSchema.LettaMessage>>
  readonly runs: HashMap.HashMap<string, RunRecord>
}

/** @category models */
export interface CreateAgent {
  /** A fixed id (the demo agent's); otherwise a fresh `agent-<uuid4>`. */
  readonly id?: string | undefined
  readonly name?: string | undefined
  readonly system?: string | undefined
  readonly description?: string | undefined
  readonly tags?: ReadonlyArray<string> | undefined
}

/** @category models */
export interface Service {
  readonly createAgent: (input: CreateAgent) => Effect.Effect<Agent>
  /** Oldest first. */
  readonly agents: Effect.Effect<ReadonlyArray<Agent>>
  readonly agent: (id: string) => Effect.Effect<Option.Option<Agent>>
  readonly createConversation: (agentId: string, summary?: string) => Effect.Effect<Conversation>
  readonly conversation: (id: string) => Effect.Effect<Option.Option<Conversation>>
  /** Deletes a conversation and its history; whether it existed. */
  readonly deleteConversation: (id: string) => Effect.Effect<boolean>
  /** Removes an agent (its conversations stay, as orphans Letta no longer serves); false when it did not exist. */
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

const block = (label: string, value: string): Block => ({ value, limit: 5000, label, description: null })

/** @category constructors */
export const make: Effect.Effect<Service> = Effect.gen(function*() {
  const state = yield* Ref.make<State>({
    agents: HashMap.empty(),
    agentOrder: Chunk.empty(),
    conversations: HashMap.empty(),
    threads: HashMap.empty(),
    runs: HashMap.empty()
  })

  const createAgent = Effect.fn("Store.createAgent")(function*(input: CreateAgent) {
    const id = input.id ?? (yield* Wire.id("agent"))
    const date = yield* Wire.now
    const blocks = [
      block("persona", "I am an emulated Letta agent. I answer deterministically."),
      block("human", "Nothing is known about the human yet.")
    ]
    const agent: Agent = {
      created_by_id: null,
      last_updated_by_id: null,
      created_at: date,
      updated_at: date,
      id,
      name: input.name ?? `agent-${id.slice(6, 14)}`,
      system: input.system ?? "You are a helpful assistant.",
      agent_type: "letta_v1_agent",
      llm_config: { model: "emulated-llm", model_endpoint_type: "openai", context_window: 32000 },
      model: "openai/emulated-llm",
      description: input.description ?? null,
      metadata: null,
      memory: { blocks },
      blocks,
      tools: [],
      sources: [],
      tags: input.tags ?? [],
      last_stop_reason: null
    }
    yield* Ref.update(state, (s) => ({
      ...s,
      agents: HashMap.set(s.agents, id, agent),
      agentOrder: Chunk.append(s.agentOrder, id)
    }))
    return agent
  })

  const agents = Effect.map(Ref.get(state), (s) =>
    Chunk.toReadonlyArray(Chunk.filterMap(s.agentOrder, (id) => HashMap.get(s.agents, id))))

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
    agent: (id) => Effect.map(Ref.get(state), (s) => HashMap.get(s.agents, id)),
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
        { ...s, agents: HashMap.remove(s.agents, id), agentOrder: Chunk.filter(s.agentOrder, (other) => other !== id) }
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
