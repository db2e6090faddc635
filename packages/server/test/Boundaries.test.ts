/**
 * What a client may make the server store or forward: ids are bounded, and a conversation a client names is used only
 * for its own agent. Each attempt with its exact input.
 */
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@letta-pipeline/emulator"
import type { HttpClient } from "@effect/platform"
import { Effect } from "effect"
import { ChatTurn } from "../src/index.js"
import { call, chat, dataLines, demoAgent, emulatorStats, fields, json, serverLayer } from "./utils/harness.js"

const firstEvent = (text: string) => fields(dataLines(text)[0])

layer(serverLayer(), { excludeTestServices: true })("trust boundaries", (it) => {
  it.effect("a 15 MB chat id, a long model or conversation id is refused with a 400 naming it; nothing is stored or sent", () =>
    Effect.gen(function*() {
      const before = yield* emulatorStats
      const huge = "c".repeat(15_000_000)
      const long = "x".repeat(ChatTurn.maxIdChars + 1)
      const attempts: ReadonlyArray<readonly [string, Effect.Effect<Readonly<Record<string, unknown>>, never, HttpClient.HttpClient | Emulator.Emulator>]> = [
        ["chat_id in the body (15 MB)", Effect.flatMap(chat("hello", { chat_id: huge }), (body) => Effect.map(call("POST", "/v1/chat/completions", { body }), json))],
        ["X-OpenWebUI-Chat-Id header", Effect.flatMap(chat("hello"), (body) => Effect.map(call("POST", "/v1/chat/completions", { body, headers: { "x-openwebui-chat-id": long } }), json))],
        ["metadata.chat_id", Effect.flatMap(chat("hello", { metadata: { chat_id: long } }), (body) => Effect.map(call("POST", "/v1/chat/completions", { body }), json))],
        ["model", Effect.map(call("POST", "/v1/chat/completions", { body: { model: long, messages: [{ role: "user", content: "x" }] } }), json)]
      ]
      for (const [what, attempt] of attempts) {
        const answer = yield* attempt
        const error = fields(answer.error)
        assert.strictEqual(error.code, "InvalidRequest", what)
        assert.match(String(error.message), /is \d+ characters long; at most 256 are accepted/, what)
      }
      const agent = yield* demoAgent
      for (const body of [
        { model: agent.id, conversation_id: long, messages: [{ role: "user", content: "x" }] },
        { model: agent.id, chat_id: long, messages: [{ role: "user", content: "x" }] }
      ]) {
        const event = firstEvent((yield* call("POST", "/v1/pipe", { body })).text)
        assert.strictEqual(fields(event.data).reason, "InvalidRequest")
      }
      const after = yield* emulatorStats
      assert.strictEqual(after.total_streams, before.total_streams)
      assert.strictEqual(after.requests_by_route["POST /v1/conversations/"] ?? 0, before.requests_by_route["POST /v1/conversations/"] ?? 0)
      console.log(`bounded ids: ${attempts.length + 2} attempts refused, Letta saw nothing`)
    }))

  it.effect("a conversation of another agent named on /v1/pipe is refused as not found; its own and the default thread are served", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const agent = yield* demoAgent
      const other = yield* emulator.store.createAgent({ name: "someone-else" })
      const theirs = yield* emulator.store.createConversation(other.id)
      const ours = yield* emulator.store.createConversation(agent.id)
      const before = yield* emulatorStats
      const pipe = (conversation_id: string) =>
        Effect.map(
          call("POST", "/v1/pipe", { body: { model: agent.id, conversation_id, messages: [{ role: "user", content: "hello" }] } }),
          (answer) => dataLines(answer.text).map(fields)
        )
      const refused = yield* pipe(theirs.id)
      const data = fields(refused[0]?.data)
      assert.strictEqual(data.reason, "NotFound")
      assert.include(String(data.message), "is not this agent's")
      // one that does not exist reads the same: whether another agent's exists does not show
      const missing = fields((yield* pipe("conv-00000000-0000-4000-8000-000000000000"))[0]?.data)
      assert.strictEqual(missing.reason, "NotFound")
      assert.strictEqual(String(missing.message).replace("conv-00000000-0000-4000-8000-000000000000", theirs.id), data.message)
      const middle = yield* emulatorStats
      assert.strictEqual(middle.total_streams, before.total_streams, "nothing was sent into the other agent's conversation")
      const served = yield* pipe(ours.id)
      assert.isTrue(served.some((event) => fields(event.data).content !== undefined))
      assert.isFalse(served.some((event) => fields(event.data).reason !== undefined))
      const own = yield* pipe("default")
      assert.isFalse(own.some((event) => fields(event.data).reason !== undefined))
      console.log("conversation ownership: another agent's conversation and a missing one refused alike; own and default served")
    }))
})
