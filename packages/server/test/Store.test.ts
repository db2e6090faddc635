/**
 * The server over a conversation store: a store failure is a clear 503 and nothing reaches the agent; stateless
 * requests use the agent's thread or a fresh conversation, by setting.
 */
import { assert, layer } from "@effect/vitest"
import { LettaError } from "@letta-pipeline/core"
import { Effect, Layer } from "effect"
import { ConversationStore, UserAgentStore } from "../src/index.js"
import { call, chat, emulatorStats, fields, json, serverLayer } from "./utils/harness.js"

const down = () =>
  Effect.fail(new LettaError.StoreError({ reason: "Unavailable", store: "postgres", detail: "connect ECONNREFUSED 10.0.0.5:5432" }))
const brokenStore = Layer.merge(
  Layer.succeed(
    ConversationStore.ConversationStore,
    ConversationStore.ConversationStore.of({ kind: "postgres", getOrCreate: down, replace: down })
  ),
  Layer.succeed(
    UserAgentStore.UserAgentStore,
    UserAgentStore.UserAgentStore.of({ kind: "postgres", getOrCreate: down, replace: down, list: down() })
  )
)

layer(serverLayer({ store: brokenStore }), { excludeTestServices: true })("store down", (it) => {
  it.effect("a chat turn is refused with 503 naming the store, and the agent sees nothing", () =>
    Effect.gen(function*() {
      const before = yield* emulatorStats
      for (const stream of [false, true]) {
        const answer = yield* call("POST", "/v1/chat/completions", {
          body: yield* chat("hello", { stream }),
          headers: { "x-openwebui-chat-id": "chat-1" }
        })
        assert.strictEqual(answer.status, 503)
        const error = fields(json(answer).error)
        assert.strictEqual(error.code, "store_unavailable")
        assert.include(String(error.message), "conversation store is unavailable")
        assert.include(String(error.message), "nothing was sent to the agent")
      }
      const after = yield* emulatorStats
      assert.strictEqual(after.total_streams, before.total_streams)
      // without a chat id the store is not needed
      const stateless = yield* call("POST", "/v1/chat/completions", { body: yield* chat("no chat id") })
      assert.strictEqual(stateless.status, 200)
    }))
})

const conversationsCreated = Effect.map(emulatorStats, (s) => s.requests_by_route["POST /v1/conversations/"] ?? 0)

layer(serverLayer({ server: { statelessChats: "fresh" } }), { excludeTestServices: true })("stateless: fresh", (it) => {
  it.effect("requests without a chat id and temporary chats each get a fresh conversation", () =>
    Effect.gen(function*() {
      const before = yield* conversationsCreated
      const first = yield* call("POST", "/v1/chat/completions", { body: yield* chat("remember fig") })
      const second = yield* call("POST", "/v1/chat/completions", {
        body: yield* chat("what did I say?"),
        headers: { "x-openwebui-chat-id": "local:temporary" }
      })
      assert.strictEqual(yield* conversationsCreated, before + 2)
      const content = (answer: typeof first) =>
        String(fields(fields((json(answer).choices as ReadonlyArray<unknown>)[0]).message).content)
      assert.include(content(first), "This is the start of our conversation")
      assert.include(content(second), "This is the start of our conversation")
    }))
})
