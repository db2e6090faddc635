/**
 * Creating and deleting agents (`LettaClient.createAgent` / `deleteAgent`) and upserting identities
 * (`LettaIdentities.upsert`) against the emulator, as per-user agents do: a copy of a template agent, attached to the
 * identity of its user.
 */
import { NodeContext } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import { LettaClient, LettaConfig, LettaError, LettaIdentities, type LettaSchema } from "../src/index.js"
import { HttpTransport } from "../src/node.js"
import * as Emulator from "./utils/emulator.js"

/** Core's REST client and identities over a fresh emulator. */
const clients = Layer.unwrapScoped(Effect.map(Emulator.start, (url) => {
  const settings = LettaConfig.make({ baseUrl: url })
  return LettaClient.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings)))
})).pipe(Layer.provide(NodeContext.layer))

/** `{ [key]: value }`, or nothing when Letta sent no value (the request's fields are optional, not nullable). */
const some = <K extends string, A>(key: K, value: A | null | undefined): { [P in K]?: A } =>
  value === null || value === undefined ? {} : ({ [key]: value } as { [P in K]: A })

/** What `POST /v1/agents/` takes to copy `template`: its prompt, model, memory, tools and rules. */
const copyOf = (template: LettaSchema.AgentState, name: string): LettaSchema.CreateAgent => ({
  name,
  ...some("system", template.system),
  ...some("llm_config", template.llm_config),
  ...some("embedding_config", template.embedding_config),
  memory_blocks: (template.memory?.blocks ?? []).map((block) => ({
    label: block.label ?? "",
    value: block.value,
    ...some("limit", block.limit),
    ...some("description", block.description),
    ...some("read_only", block.read_only)
  })),
  tool_ids: (template.tools ?? []).flatMap((tool) => (tool.id === null || tool.id === undefined ? [] : [tool.id])),
  tool_rules: template.tool_rules ?? [],
  include_base_tools: false,
  tags: ["per-user", `copy-of:${name}`]
})

const reasonOf = (result: Either.Either<unknown, unknown>) =>
  Either.isLeft(result) && result.left instanceof LettaError.LettaError ? result.left.reason : undefined

layer(clients, { excludeTestServices: true, timeout: 120_000 })("agents and identities against the emulator", (it) => {
  it.effect("createAgent copies a template, getAgent reads the copy back, deleteAgent removes it", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const template = yield* client.getAgent(Emulator.demoAgentId)
      const created = yield* client.createAgent(copyOf(template, "copy-one"))
      assert.notStrictEqual(created.id, template.id)
      const read = yield* client.getAgent(created.id)
      assert.strictEqual(read.name, "copy-one")
      assert.strictEqual(read.system, template.system)
      assert.deepStrictEqual(read.llm_config, template.llm_config)
      assert.deepStrictEqual(read.tools?.map((t) => t.name), template.tools?.map((t) => t.name))
      assert.deepStrictEqual(
        read.memory?.blocks.map((b) => [b.label, b.value]),
        template.memory?.blocks.map((b) => [b.label, b.value])
      )
      // the copy's blocks are its own
      assert.isFalse((read.memory?.blocks ?? []).some((b) => template.memory?.blocks.some((t) => t.id === b.id)))
      assert.deepStrictEqual(read.tags, ["per-user", "copy-of:copy-one"])

      yield* client.deleteAgent(created.id)
      const gone = yield* Effect.either(client.getAgent(created.id))
      assert.strictEqual(reasonOf(gone), "NotFound")
      const again = yield* Effect.either(client.deleteAgent(created.id))
      assert.strictEqual(reasonOf(again), "NotFound")
      const malformed = yield* Effect.either(client.deleteAgent("agent-123"))
      assert.strictEqual(reasonOf(malformed), "InvalidId")
    }))

  it.effect("upsert creates an identity, then updates it in place and attaches agents", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const identities = yield* LettaIdentities.LettaIdentities
      const key = `owui-user-${Date.now()}`
      const identity = yield* identities.upsert({ identifier_key: key, name: "Alice", identity_type: "user" })
      assert.match(identity.id, /^identity-/)
      assert.deepStrictEqual(identity.agent_ids, [])

      const template = yield* client.getAgent(Emulator.demoAgentId)
      const agent = yield* client.createAgent({ ...copyOf(template, "alice"), identity_ids: [identity.id] })
      assert.deepStrictEqual(agent.identity_ids, [identity.id])

      const second = yield* client.createAgent(copyOf(template, "alice-2"))
      const updated = yield* identities.upsert({
        identifier_key: key,
        name: "Alice A.",
        identity_type: "user",
        agent_ids: [agent.id, second.id]
      })
      assert.strictEqual(updated.id, identity.id)
      assert.strictEqual(updated.name, "Alice A.")
      assert.deepStrictEqual(updated.agent_ids, [agent.id, second.id])
      assert.deepStrictEqual((yield* client.getAgent(second.id)).identity_ids, [identity.id])
      const listed = yield* client.listAgents({ tags: ["copy-of:alice-2"] })
      assert.deepStrictEqual(listed.map((a) => a.id), [second.id])

      // a deleted agent leaves its identity
      yield* client.deleteAgent(second.id)
      const after = yield* identities.upsert({ identifier_key: key, name: "Alice A.", identity_type: "user" })
      assert.deepStrictEqual(after.agent_ids, [agent.id])
    }))

  it.effect("createAgent with an identity that does not exist fails with NotFound", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const result = yield* Effect.either(client.createAgent({
        name: "orphan",
        identity_ids: ["identity-00000000-0000-4000-8000-000000000000"]
      }))
      assert.strictEqual(reasonOf(result), "NotFound")
    }))
})
