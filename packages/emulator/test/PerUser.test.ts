/**
 * What per-user agents need of the emulator: agents created from a template's fields, identities, and memory the stub
 * LLM really reads and writes, so that an answer tells whose memory it came from.
 */
import { assert, describe, layer } from "@effect/vitest"
import { LettaSchema } from "@letta-pipeline/core"
import { Effect, Schema } from "effect"
import { decode, demoAgentId, emulatorLayer, fields, json, payloads, request, turn } from "./utils/harness.js"
import { violations } from "./utils/spec.js"

const IdentityList = Schema.Array(LettaSchema.Identity)

const unknownIdentity = "identity-00000000-0000-4000-8000-000000000000"

/** A fresh identifier key, so that tests sharing the emulator do not meet. */
const freshKey = (label: string) => `${label}-${Math.random().toString(36).slice(2, 10)}`

const createAgent = (body: Record<string, unknown>) =>
  Effect.gen(function*() {
    const answer = yield* request("POST", "/v1/agents/", { body })
    assert.strictEqual(answer.status, 200, answer.text)
    assert.deepStrictEqual(violations("AgentState", json(answer)), [])
    return decode(LettaSchema.AgentState, answer)
  })

const upsert = (body: Record<string, unknown>) =>
  Effect.gen(function*() {
    const answer = yield* request("PUT", "/v1/identities/", { body })
    assert.strictEqual(answer.status, 200, answer.text)
    assert.deepStrictEqual(violations("Identity", json(answer)), [])
    return decode(LettaSchema.Identity, answer)
  })

/** The assistant's text of a streamed (SSE) or blocking (`LettaResponse`) answer. */
const answerOf = (text: string): string => {
  const messages = text.startsWith("{")
    ? (fields(JSON.parse(text)).messages as ReadonlyArray<unknown>).map(fields)
    : payloads(text)
  return messages.filter((m) => m.message_type === "assistant_message").map((m) => String(m.content)).join("")
}

/** A turn in a new conversation of the agent, streamed; its answer. */
const inNewConversation = (agentId: string, text: string) =>
  Effect.gen(function*() {
    const conversation = fields(json(yield* request("POST", `/v1/conversations/?agent_id=${agentId}`, { body: {} })))
    const answer = yield* request("POST", `/v1/conversations/${String(conversation.id)}/messages`, { body: turn(text) })
    assert.strictEqual(answer.status, 200, answer.text)
    return answerOf(answer.text)
  })

const humanBlock = (agentId: string) =>
  Effect.map(request("GET", `/v1/agents/${agentId}`), (answer) =>
    decode(LettaSchema.AgentState, answer).memory?.blocks.find((b) => b.label === "human")?.value)

layer(emulatorLayer(), { excludeTestServices: true })("per-user agents", (it) => {
  describe("an agent created from a template's fields", () => {
    it.effect("takes every field CreateAgentRequest carries, and GET answers them", () =>
      Effect.gen(function*() {
        const template = decode(LettaSchema.AgentState, yield* request("GET", `/v1/agents/${yield* demoAgentId}`))
        const toolIds = (template.tools ?? []).flatMap((t) => (t.id === null || t.id === undefined ? [] : [t.id]))
        assert.isAbove(toolIds.length, 0)
        const identity = yield* upsert({ identifier_key: freshKey("copy"), name: "Copy", identity_type: "user" })
        const llmConfig = { model: "gpt-4o-mini", model_endpoint_type: "openai", context_window: 128000 }
        const embeddingConfig = { embedding_endpoint_type: "openai", embedding_model: "text-embedding-3-small", embedding_dim: 1536 }
        const toolRules = [{ tool_name: "web_search", type: "run_first" }]
        const body = {
          name: "copy-of-demo",
          system: "You are the template's system prompt.",
          memory_blocks: [
            { label: "persona", value: "I am the template.", limit: 3000, description: "who I am", read_only: true },
            { label: "human", value: "Template human." }
          ],
          tool_ids: toolIds.slice(0, 2),
          include_base_tools: false,
          tool_rules: toolRules,
          tags: ["owui-user:alice", "copy"],
          identity_ids: [identity.id],
          llm_config: llmConfig,
          embedding_config: embeddingConfig,
          model: "openai/gpt-4o-mini",
          embedding: "openai/text-embedding-3-small",
          description: "Alice's agent",
          metadata: { template: template.id }
        }
        const created = yield* createAgent(body)
        const read = yield* request("GET", `/v1/agents/${created.id}`)
        assert.deepStrictEqual(violations("AgentState", json(read)), [])
        const raw = fields(json(read))
        const agent = decode(LettaSchema.AgentState, read)
        assert.deepStrictEqual(raw, fields(json(yield* request("GET", `/v1/agents/${created.id}`))))
        assert.strictEqual(agent.name, "copy-of-demo")
        assert.strictEqual(agent.system, body.system)
        assert.deepStrictEqual(agent.llm_config, llmConfig)
        assert.deepStrictEqual(agent.embedding_config, embeddingConfig)
        assert.strictEqual(agent.model, "openai/gpt-4o-mini")
        assert.strictEqual(agent.embedding, "openai/text-embedding-3-small")
        assert.strictEqual(agent.description, "Alice's agent")
        assert.deepStrictEqual(agent.metadata, { template: template.id })
        assert.deepStrictEqual(agent.tags, ["owui-user:alice", "copy"])
        assert.deepStrictEqual(agent.identity_ids, [identity.id])
        assert.deepStrictEqual(agent.tool_rules, toolRules)
        assert.deepStrictEqual((agent.tools ?? []).map((t) => t.id), toolIds.slice(0, 2))
        const blocks = agent.memory?.blocks ?? []
        assert.deepStrictEqual(raw.blocks, fields(raw.memory).blocks)
        assert.deepStrictEqual(
          blocks.map(({ description, label, limit, read_only, value }) => ({ label, value, limit, description, read_only })),
          [
            { label: "persona", value: "I am the template.", limit: 3000, description: "who I am", read_only: true },
            { label: "human", value: "Template human.", limit: 20000, description: null, read_only: false }
          ]
        )
        for (const b of blocks) assert.match(b.id ?? "", /^block-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
        // a second copy gets blocks of its own
        const other = yield* createAgent({ ...body, name: "second-copy", identity_ids: [] })
        const otherIds = (other.memory?.blocks ?? []).map((b) => b.id)
        assert.isFalse(otherIds.some((id) => blocks.some((b) => b.id === id)))
      }))

    it.effect("defaults: the base tools, Letta's default model, no identities; include_base_tools adds to tool_ids", () =>
      Effect.gen(function*() {
        const plain = yield* createAgent({ name: "plain" })
        assert.deepStrictEqual((plain.tools ?? []).map((t) => t.name), [
          "conversation_search",
          "core_memory_append",
          "core_memory_replace",
          "web_search"
        ])
        assert.deepStrictEqual(plain.identity_ids, [])
        assert.deepStrictEqual(plain.tool_rules, [])
        assert.deepStrictEqual((plain.memory?.blocks ?? []).map((b) => b.label), ["persona", "human"])
        const byHandle = yield* createAgent({ name: "by-handle", model: "anthropic/claude-x" })
        assert.strictEqual(byHandle.llm_config?.model, "claude-x")
        assert.strictEqual(byHandle.llm_config?.model_endpoint_type, "anthropic")
        const noBlocks = yield* createAgent({ name: "no-blocks", memory_blocks: [] })
        assert.deepStrictEqual(noBlocks.memory?.blocks, [])
      }))

    it.effect("an unknown identity or tool is a 404 and creates nothing; a malformed one is a 422", () =>
      Effect.gen(function*() {
        const name = freshKey("refused")
        const unknown = yield* request("POST", "/v1/agents/", { body: { name, identity_ids: [unknownIdentity] } })
        assert.strictEqual(unknown.status, 404)
        assert.deepStrictEqual(json(unknown), { detail: `Identity with ID ${unknownIdentity} not found` })
        const unknownTool = "tool-00000000-0000-4000-8000-000000000000"
        const noTool = yield* request("POST", "/v1/agents/", { body: { name, tool_ids: [unknownTool] } })
        assert.strictEqual(noTool.status, 404)
        assert.deepStrictEqual(json(noTool), { detail: `Tool with ID ${unknownTool} not found` })
        const malformed = yield* request("POST", "/v1/agents/", { body: { name, identity_ids: ["identity-1"] } })
        assert.strictEqual(malformed.status, 422)
        assert.include(String(fields(json(malformed)).detail), "identity-{uuid4}")
        const listed = decode(LettaSchema.AgentList, yield* request("GET", `/v1/agents/?name=${name}`))
        assert.deepStrictEqual(listed, [])
      }))
  })

  describe("identities", () => {
    it.effect("PUT upserts by identifier_key: created once, then updated in place", () =>
      Effect.gen(function*() {
        const key = freshKey("owui")
        const created = yield* upsert({ identifier_key: key, name: "Alice", identity_type: "user" })
        assert.match(created.id, /^identity-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
        assert.deepStrictEqual(json(yield* request("GET", `/v1/identities/${created.id}`)), {
          id: created.id,
          identifier_key: key,
          name: "Alice",
          identity_type: "user",
          project_id: null,
          agent_ids: [],
          block_ids: [],
          properties: []
        })
        const agent = yield* createAgent({ name: "alice-agent" })
        const updated = yield* upsert({ identifier_key: key, name: "Alice A.", identity_type: "other", agent_ids: [agent.id] })
        assert.strictEqual(updated.id, created.id)
        assert.strictEqual(updated.name, "Alice A.")
        assert.strictEqual(updated.identity_type, "other")
        assert.deepStrictEqual(updated.agent_ids, [agent.id])
        // the agent sees it, and the list filters by it
        const read = decode(LettaSchema.AgentState, yield* request("GET", `/v1/agents/${agent.id}`))
        assert.deepStrictEqual(read.identity_ids, [created.id])
        const byIdentity = decode(LettaSchema.AgentList, yield* request("GET", `/v1/agents/?identity_id=${created.id}`))
        assert.deepStrictEqual(byIdentity.map((a) => a.id), [agent.id])
        const byKey = decode(LettaSchema.AgentList, yield* request("GET", `/v1/agents/?identifier_keys=${key}`))
        assert.deepStrictEqual(byKey.map((a) => a.id), [agent.id])
        // no agent_ids: the agents stay
        const renamed = yield* upsert({ identifier_key: key, name: "Alice B.", identity_type: "user" })
        assert.deepStrictEqual(renamed.agent_ids, [agent.id])
        const same = decode(IdentityList, yield* request("GET", `/v1/identities/?identifier_key=${key}`))
        assert.deepStrictEqual(same.map((i) => i.id), [created.id])
        // an unknown agent is a 404 and changes nothing
        const missingAgent = "agent-00000000-0000-4000-8000-000000000000"
        const refused = yield* request("PUT", "/v1/identities/", {
          body: { identifier_key: key, name: "X", identity_type: "user", agent_ids: [missingAgent] }
        })
        assert.strictEqual(refused.status, 404)
        assert.deepStrictEqual(json(refused), { detail: `Agent with ID ${missingAgent} not found` })
        assert.strictEqual(decode(LettaSchema.Identity, yield* request("GET", `/v1/identities/${created.id}`)).name, "Alice B.")
        // a body without a required field is pydantic's 422
        const incomplete = yield* request("PUT", "/v1/identities/", { body: { identifier_key: key } })
        assert.strictEqual(incomplete.status, 422)
      }))

    it.effect("POST creates, and answers 409 for a key that exists", () =>
      Effect.gen(function*() {
        const key = freshKey("post")
        const answer = yield* request("POST", "/v1/identities/", { body: { identifier_key: key, name: "Bob", identity_type: "user" } })
        assert.strictEqual(answer.status, 200)
        assert.deepStrictEqual(violations("Identity", json(answer)), [])
        const again = yield* request("POST", "/v1/identities/", { body: { identifier_key: key, name: "Bob 2", identity_type: "user" } })
        assert.strictEqual(again.status, 409)
        assert.strictEqual(typeof fields(json(again)).detail, "string")
        const listed = decode(IdentityList, yield* request("GET", `/v1/identities/?identifier_key=${key}`))
        assert.deepStrictEqual(listed.map((i) => i.name), ["Bob"])
      }))

    it.effect("GET lists newest first, filters by key, name and type, and pages by id cursors", () =>
      Effect.gen(function*() {
        const name = freshKey("listed")
        const created = []
        for (let i = 0; i < 4; i++) {
          created.push(yield* upsert({ identifier_key: `${name}-${i}`, name, identity_type: i === 3 ? "org" : "user" }))
        }
        const byName = decode(IdentityList, yield* request("GET", `/v1/identities/?name=${name}`))
        assert.deepStrictEqual(byName.map((i) => i.id), created.map((i) => i.id).reverse())
        const asc = decode(IdentityList, yield* request("GET", `/v1/identities/?name=${name}&order=asc&limit=2`))
        assert.deepStrictEqual(asc.map((i) => i.id), created.slice(0, 2).map((i) => i.id))
        const next = decode(
          IdentityList,
          yield* request("GET", `/v1/identities/?name=${name}&order=asc&limit=2&after=${asc[1]?.id}`)
        )
        assert.deepStrictEqual(next.map((i) => i.id), created.slice(2).map((i) => i.id))
        const orgs = decode(IdentityList, yield* request("GET", `/v1/identities/?name=${name}&identity_type=org`))
        assert.deepStrictEqual(orgs.map((i) => i.id), [created[3]?.id])
        const bare = yield* request("GET", "/v1/identities?limit=1")
        assert.strictEqual(bare.status, 307)
      }))

    it.effect("GET one: 422 for a malformed id, 404 for an unknown one", () =>
      Effect.gen(function*() {
        const malformed = yield* request("GET", "/v1/identities/identity-123")
        assert.strictEqual(malformed.status, 422)
        const body = fields(json(malformed))
        assert.include(String(body.detail), "String should match pattern 'identity-{uuid4}'")
        assert.deepStrictEqual(body.examples, ["identity-123e4567-e89b-42d3-8456-426614174000"])
        const unknown = yield* request("GET", `/v1/identities/${unknownIdentity}`)
        assert.strictEqual(unknown.status, 404)
        assert.deepStrictEqual(json(unknown), { detail: `Identity with ID ${unknownIdentity} not found` })
        assert.strictEqual((yield* request("GET", `/v1/identities/${unknownIdentity}/agents`)).status, 404)
        assert.strictEqual((yield* request("DELETE", `/v1/identities/${unknownIdentity}`)).status, 404)
        assert.strictEqual((yield* request("DELETE", "/v1/identities/nope")).status, 422)
      }))

    it.effect("its agents: created with identity_ids, listed, and gone from it when deleted", () =>
      Effect.gen(function*() {
        const identity = yield* upsert({ identifier_key: freshKey("agents"), name: "Carol", identity_type: "user" })
        const first = yield* createAgent({ name: "carol-1", identity_ids: [identity.id] })
        const second = yield* createAgent({ name: "carol-2", identity_ids: [identity.id] })
        const linked = decode(LettaSchema.Identity, yield* request("GET", `/v1/identities/${identity.id}`))
        assert.deepStrictEqual(linked.agent_ids, [first.id, second.id])
        const agents = yield* request("GET", `/v1/identities/${identity.id}/agents`)
        assert.strictEqual(agents.status, 200)
        for (const agent of json(agents) as ReadonlyArray<unknown>) assert.deepStrictEqual(violations("AgentState", agent), [])
        assert.deepStrictEqual(decode(LettaSchema.AgentList, agents).map((a) => a.id), [second.id, first.id])
        assert.strictEqual((yield* request("DELETE", `/v1/agents/${first.id}`)).status, 200)
        const after = decode(LettaSchema.Identity, yield* request("GET", `/v1/identities/${identity.id}`))
        assert.deepStrictEqual(after.agent_ids, [second.id])
        // deleting the identity leaves its agents, without it
        const deleted = yield* request("DELETE", `/v1/identities/${identity.id}`)
        assert.strictEqual(deleted.status, 200)
        assert.strictEqual(deleted.text, "null")
        assert.strictEqual((yield* request("GET", `/v1/identities/${identity.id}`)).status, 404)
        const survivor = decode(LettaSchema.AgentState, yield* request("GET", `/v1/agents/${second.id}`))
        assert.deepStrictEqual(survivor.identity_ids, [])
      }))
  })

  describe("memory the stub really uses", () => {
    it.effect("each agent answers 'what is my name' from its own memory, in a new conversation", () =>
      Effect.gen(function*() {
        const alice = yield* createAgent({ name: "alice-memory" })
        const bob = yield* createAgent({ name: "bob-memory" })
        const told = yield* request("POST", `/v1/agents/${alice.id}/messages/stream`, { body: turn("Hello! My name is Alice.") })
        const messages = payloads(told.text)
        const call = messages.find((m) => m.message_type === "tool_call_message")
        assert.deepStrictEqual(fields(call?.tool_call), {
          name: "core_memory_append",
          arguments: "{\"label\":\"human\",\"content\":\"Name: Alice\"}",
          tool_call_id: fields(call?.tool_call).tool_call_id
        })
        const returned = messages.find((m) => m.message_type === "tool_return_message")
        assert.strictEqual(returned?.tool_call_id, fields(call?.tool_call).tool_call_id)
        assert.strictEqual(answerOf(told.text), "Nice to meet you, Alice. I will remember that.")
        assert.strictEqual(yield* humanBlock(alice.id), "Nothing is known about the human yet.\nName: Alice")
        // Bob tells his in a conversation
        assert.strictEqual(yield* inNewConversation(bob.id, "my name is Bob"), "Nice to meet you, Bob. I will remember that.")
        assert.strictEqual(yield* inNewConversation(alice.id, "What is my name?"), "Your name is Alice.")
        assert.strictEqual(yield* inNewConversation(bob.id, "What is my name?"), "Your name is Bob.")
        // the latest name wins
        yield* inNewConversation(alice.id, "Actually my name is Alicia")
        assert.strictEqual(yield* inNewConversation(alice.id, "so what is my name"), "Your name is Alicia.")
        assert.strictEqual(yield* inNewConversation(bob.id, "What is my name?"), "Your name is Bob.")
      }))

    it.effect("an agent that was not told says it does not know; a block without a Name line neither", () =>
      Effect.gen(function*() {
        const stranger = yield* createAgent({ name: "stranger" })
        assert.strictEqual(yield* inNewConversation(stranger.id, "What is my name?"), "I do not know your name yet.")
        const noHuman = yield* createAgent({ name: "no-human", memory_blocks: [{ label: "persona", value: "p" }] })
        assert.strictEqual(yield* inNewConversation(noHuman.id, "what is my name"), "I do not know your name yet.")
        // telling it creates the block
        yield* inNewConversation(noHuman.id, "my name is Dana")
        assert.strictEqual(yield* humanBlock(noHuman.id), "Name: Dana")
        assert.strictEqual(yield* inNewConversation(noHuman.id, "What is my name?"), "Your name is Dana.")
      }))

    it.effect("blocking turns and background runs read and write the same memory", () =>
      Effect.gen(function*() {
        const agent = yield* createAgent({ name: "paths" })
        const blocking = yield* request("POST", `/v1/agents/${agent.id}/messages`, { body: turn("My name is Erin") })
        assert.strictEqual(blocking.status, 200)
        const response = decode(LettaSchema.LettaResponse, blocking)
        assert.deepStrictEqual(response.messages.map((m) => m.message_type), [
          "reasoning_message",
          "tool_call_message",
          "tool_return_message",
          "reasoning_message",
          "assistant_message"
        ])
        assert.strictEqual(answerOf(blocking.text), "Nice to meet you, Erin. I will remember that.")
        const started = decode(
          LettaSchema.Run,
          yield* request("POST", `/v1/agents/${agent.id}/messages/async`, { body: turn("What is my name?") })
        )
        yield* request("GET", `/v1/runs/${started.id}`).pipe(
          Effect.map((answer) => decode(LettaSchema.Run, answer)),
          Effect.repeat({ until: (r) => r.status === "completed", times: 200 })
        )
        const messages = decode(LettaSchema.MessageList, yield* request("GET", `/v1/runs/${started.id}/messages`))
        const said = messages.flatMap((m) => (m.message_type === "assistant_message" ? [m.content] : []))
        assert.deepStrictEqual(said, ["Your name is Erin."])
        const background = yield* request("POST", `/v1/agents/${agent.id}/messages/stream`, {
          body: { ...turn("what is my name"), background: true }
        })
        assert.strictEqual(answerOf(background.text), "Your name is Erin.")
      }))

    it.effect("other texts answer as before", () =>
      Effect.gen(function*() {
        const answer = yield* request("POST", `/v1/agents/${yield* demoAgentId}/messages`, { body: turn("names are hard") })
        assert.match(answerOf(answer.text), /^You said: "names are hard"\. I am demo-agent/)
      }))
  })
})
