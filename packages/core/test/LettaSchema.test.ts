import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import { readFileSync } from "node:fs"
import { LettaSchema } from "../src/index.js"
import * as Letta from "./utils/letta.js"

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")
const decode = (input: unknown) => LettaSchema.decodeMessage(input)
const decodeJson = Schema.decodeUnknownEither(LettaSchema.LettaMessageJson)

const decodeOk = (input: unknown): LettaSchema.LettaMessage => {
  const result = decode(input)
  if (Either.isLeft(result)) assert.fail(`expected to decode: ${result.left.message}`)
  return result.right
}

describe("LettaSchema", () => {
  describe("recorded samples", () => {
    it("decodes both real token-mode chunks of 2026-05 with their exact keys", () => {
      const lines = fixture("recorded-2026-05-token-stream-chunks.jsonl").trim().split("\n")
      assert.strictEqual(lines.length, 2)
      const [toolCall, assistant] = lines.map((line) => Either.getOrThrow(decodeJson(line)))
      assert.strictEqual(toolCall?.message_type, "tool_call_message")
      if (toolCall?.message_type !== "tool_call_message") return
      assert.deepStrictEqual(toolCall.tool_call, { tool_call_id: "019e5d5be6e324e71a70b794083713fb" })
      assert.deepStrictEqual(toolCall.tool_calls, { tool_call_id: "019e5d5be6e324e71a70b794083713fb" })
      assert.strictEqual(toolCall.otid, "02bb6cf9-fd51-4c09-85c2-59848efd8c01")
      assert.strictEqual(toolCall.is_err, null)
      assert.strictEqual(assistant?.message_type, "assistant_message")
      if (assistant?.message_type !== "assistant_message") return
      assert.strictEqual(assistant.content, " and")
      assert.strictEqual(assistant.run_id, "run-76568f61-da60-42a9-855c-3aa80d16ca13")
    })

    it("re-encodes the recorded chunks byte for byte: Letta's key order and nulls", () => {
      for (const line of fixture("recorded-2026-05-token-stream-chunks.jsonl").trim().split("\n")) {
        const message = Either.getOrThrow(decodeJson(line))
        assert.strictEqual(Schema.encodeSync(LettaSchema.LettaMessageJson)(message), line)
      }
    })

    it("decodes the legacy 2024 excerpt (no otid, run_id, step_id)", () => {
      const datas = fixture("legacy-2024-12-pr2283-token-stream-excerpt.sse")
        .split("\n")
        .filter((line) => line.startsWith("data: "))
        .map((line) => line.slice(6))
      assert.strictEqual(datas.length, 5)
      const reasoning = datas.map((data) => {
        const message = Either.getOrThrow(decodeJson(data))
        assert.strictEqual(message.message_type, "reasoning_message")
        return message.message_type === "reasoning_message" ? message.reasoning : ""
      })
      assert.strictEqual(reasoning.join(""), "User keeps greeting me.")
    })
  })

  describe("every message type", () => {
    it("system and user (string and parts)", () => {
      const system = decodeOk({ id: "message-1", date: "2026-08-01T10:00:00+00:00", message_type: "system_message", content: "You are…" })
      assert.strictEqual(system.message_type, "system_message")
      const user = decodeOk({
        id: "message-2",
        date: "2026-08-01T10:00:00+00:00",
        message_type: "user_message",
        content: [{ type: "text", text: "hi" }, { type: "image", source: { type: "url", url: "https://x/y.png" } }]
      })
      assert.strictEqual(user.message_type === "user_message" && Array.isArray(user.content) && user.content.length, 2)
    })

    it("reasoning and hidden reasoning", () => {
      const reasoning = decodeOk(Letta.reasoning("thinking"))
      assert.strictEqual(reasoning.message_type === "reasoning_message" && reasoning.source, "reasoner_model")
      const hidden = decodeOk({
        id: "message-3",
        date: "2026-08-01T10:00:00+00:00",
        message_type: "hidden_reasoning_message",
        state: "omitted",
        hidden_reasoning: null
      })
      assert.strictEqual(hidden.message_type === "hidden_reasoning_message" && hidden.state, "omitted")
    })

    it("assistant with string content and with text parts", () => {
      const text = decodeOk(Letta.assistant("Hello"))
      assert.strictEqual(text.message_type === "assistant_message" && text.content, "Hello")
      const parts = decodeOk(Letta.assistant([{ type: "text", text: "Hel", signature: null }, { type: "text", text: "lo" }]))
      assert.isTrue(parts.message_type === "assistant_message" && Array.isArray(parts.content))
    })

    it("tool_call with tool_calls as an array (step mode) and as a delta (token mode)", () => {
      const step = decodeOk(Letta.toolCallStep([{ name: "web_search", arguments: "{\"q\":1}", tool_call_id: "call_1" }]))
      assert.isTrue(step.message_type === "tool_call_message" && Array.isArray(step.tool_calls))
      const delta = decodeOk(Letta.toolCallDelta({ arguments: "{\"q" }))
      assert.isTrue(delta.message_type === "tool_call_message" && !Array.isArray(delta.tool_calls))
    })

    it("tool_return, approval request and response", () => {
      const ret = decodeOk(Letta.toolReturn("call_1", "3 results"))
      assert.strictEqual(ret.message_type === "tool_return_message" && ret.tool_returns?.[0]?.tool_return, "3 results")
      const approval = decodeOk({ ...Letta.toolCallStep([{ name: "rm", arguments: "{}", tool_call_id: "c" }]), message_type: "approval_request_message" })
      assert.strictEqual(approval.message_type, "approval_request_message")
      const response = decodeOk({
        id: "message-4",
        date: "2026-08-01T10:00:00+00:00",
        message_type: "approval_response_message",
        approvals: [{ type: "approval", tool_call_id: "c", approve: true, reason: null }],
        approve: null,
        approval_request_id: null,
        reason: null
      })
      assert.strictEqual(response.message_type, "approval_response_message")
    })

    it("stop_reason, usage_statistics, ping and error_message", () => {
      assert.strictEqual(decodeOk(Letta.stopReason("max_steps")).message_type, "stop_reason")
      const usage = decodeOk(Letta.usage)
      assert.strictEqual(usage.message_type === "usage_statistics" && usage.total_tokens, 2352)
      const ping = decodeOk(Letta.ping)
      assert.strictEqual(ping.message_type === "ping" && ping.run_id, Letta.runId)
      const error = decodeOk(Letta.errorMessage)
      assert.strictEqual(error.message_type === "error_message" && error.error_type, "llm_rate_limit")
    })

    it("App Server frames (no otid, extra keys, content parts)", () => {
      const frame = decodeOk({
        id: "ui-msg-4:assistant:1",
        date: "2026-11-23T21:28:22.743Z",
        agent_id: "agent-local-fe5e7dc5-b3bd-469d-b583-e6ef57b8a00e",
        conversation_id: "local-conv-21",
        message_type: "assistant_message",
        content: [{ type: "text", text: "Hello from t" }],
        run_id: "local-run-2",
        seq_id: 4,
        type: "message"
      })
      assert.strictEqual(frame.message_type, "assistant_message")
    })
  })

  describe("forward compatibility", () => {
    it("decodes an unknown message_type to the explicit unknown variant, keeping every key", () => {
      const wire = { message_type: "telepathy_message", id: "message-9", vibes: [1, 2] }
      const message = decodeOk(wire)
      assert.deepStrictEqual(message, { message_type: "unknown", original_type: "telepathy_message", fields: wire })
      assert.deepStrictEqual(Schema.encodeSync(LettaSchema.LettaMessage)(message), wire)
    })

    it("the union and the fast path agree", () => {
      for (const wire of [Letta.assistant("x"), Letta.usage, { message_type: "brand_new" }]) {
        assert.deepStrictEqual(decode(wire), Schema.decodeUnknownEither(LettaSchema.LettaMessage)(wire))
      }
    })

    it("fails on a malformed known type, naming the broken field", () => {
      const result = decode({ ...Letta.assistant("x"), content: 42 })
      assert.isTrue(Either.isLeft(result))
      if (Either.isLeft(result)) assert.include(result.left.message, "content")
      assert.isTrue(Either.isLeft(decode({ message_type: "stop_reason" })))
      assert.isTrue(Either.isLeft(decode({ ...Letta.toolReturn("c", "x"), status: "maybe" })))
      // what the bridge reads stays strict: the ids that group deltas, tool-call fields, usage counts
      assert.isTrue(Either.isLeft(decode({ ...Letta.assistant("x"), otid: 12 })))
      assert.isTrue(Either.isLeft(decode({ ...Letta.toolCallDelta({ tool_call_id: "c" }), tool_calls: "c" })))
      assert.isTrue(Either.isLeft(decode({ ...Letta.usage, total_tokens: "2352" })))
    })

    it("frames the bridge does not need never fail: a ping without id and date, odd unread fields, malformed passed-over types", () => {
      // a keepalive as some servers send it: no id, no date
      assert.deepStrictEqual(decodeOk({ message_type: "ping" }), { message_type: "ping" })
      assert.deepStrictEqual(decodeOk({ message_type: "ping", id: 7, date: [] }), { message_type: "ping" })
      // known types with extra keys and without the ones the bridge never reads
      const bare = decodeOk({ message_type: "assistant_message", content: "Hi", brand_new_key: { x: 1 } })
      assert.isTrue(bare.message_type === "assistant_message" && bare.content === "Hi")
      // an odd value in a field the bridge never reads is dropped, the rest kept
      const odd = decodeOk({ ...Letta.reasoning("Thinking"), date: 1764489600, is_err: "no", seq_id: "7", signature: 5 })
      assert.isTrue(odd.message_type === "reasoning_message" && odd.reasoning === "Thinking")
      assert.isTrue(odd.message_type === "reasoning_message" && odd.otid === Letta.reasoningOtid && odd.run_id === Letta.runId)
      assert.isFalse("date" in odd || "is_err" in odd || "seq_id" in odd || "signature" in odd)
      const usage = decodeOk({ ...Letta.usage, run_ids: "run-x", context_tokens: "many" })
      assert.isTrue(usage.message_type === "usage_statistics" && usage.total_tokens === 2352)
      // a malformed message of a type the bridge passes over becomes the lossless unknown variant
      for (const wire of [
        { message_type: "user_message", id: "message-1", date: "d", content: 42 },
        { message_type: "event_message", id: "message-2", date: "d" },
        { message_type: "hidden_reasoning_message", state: "gone" }
      ]) {
        const message = decodeOk(wire)
        // every key kept, as for a type this version does not know
        assert.deepStrictEqual(message, { message_type: "unknown", original_type: wire.message_type, fields: wire })
      }
    })

    it("an odd field named __proto__ stays a plain key", () => {
      const wire = JSON.parse(`{"message_type":"assistant_message","content":"Hi","date":5,"__proto__":{"polluted":true}}`)
      const message = decodeOk(wire)
      assert.isTrue(message.message_type === "assistant_message" && message.content === "Hi")
      assert.isUndefined(({} as Record<string, unknown>).polluted)
    })

    it("fails on a frame without message_type", () => {
      assert.isTrue(Either.isLeft(decode({ hello: "world" })))
      assert.isTrue(Either.isLeft(decode("just text")))
    })
  })

  describe("ids", () => {
    const valid = {
      agent: ["agent-6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f", "agent-local-fe5e7dc5-b3bd-469d-b583-e6ef57b8a00e"],
      conversation: ["conv-1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d", "local-conv-21", "default"],
      run: ["run-76568f61-da60-42a9-855c-3aa80d16ca13", "local-run-2"]
    }
    const tricks = [
      "../agents",
      "agent-6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f/../../v1/health",
      "agent-6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f?x=1",
      "agent-6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f#frag",
      "%2e%2e",
      "agent-6F1C2D3E-4B5A-4C7D-8E9F-0A1B2C3D4E5F",
      "agent-6f1c2d3e-4b5a-3c7d-8e9f-0a1b2c3d4e5f", // not version 4
      "agent-6f1c2d3e\u20104b5a-4c7d-8e9f-0a1b2c3d4e5f", // unicode hyphen
      "agent-６f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f", // full-width digit
      " agent-6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
      "agent-6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f\n",
      ""
    ]
    it("accepts classic and App Server forms", () => {
      for (const id of valid.agent) assert.isTrue(Schema.is(LettaSchema.AgentId)(id), id)
      for (const id of valid.conversation) assert.isTrue(Schema.is(LettaSchema.ConversationId)(id), id)
      for (const id of valid.run) assert.isTrue(Schema.is(LettaSchema.RunId)(id), id)
    })
    it("rejects path tricks and look-alikes", () => {
      for (const id of tricks) assert.isFalse(Schema.is(LettaSchema.AgentId)(id), JSON.stringify(id))
      for (const id of ["conv-../x", "local-conv-1/..", "default/x"]) {
        assert.isFalse(Schema.is(LettaSchema.ConversationId)(id), id)
      }
    })
  })

  describe("requests", () => {
    it("a user turn is sent as content, never as the legacy text field", () => {
      const encoded = Schema.encodeSync(LettaSchema.LettaStreamingRequest)({
        messages: [{ role: "user", content: "Hello" }],
        stream_tokens: true
      })
      assert.deepStrictEqual(encoded, { messages: [{ role: "user", content: "Hello" }], stream_tokens: true })
      assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(LettaSchema.MessageCreate)({ role: "user", text: "Hello" })))
    })
  })
})

describe("decodeMessage's direct path for text, tool-call, ping, stop and usage frames", () => {
  // every field of the two text types, each with valid and invalid values, in any combination
  const field = <A>(valid: ReadonlyArray<A>, invalid: ReadonlyArray<unknown>) =>
    fc.option(fc.constantFrom<unknown>(...valid, ...invalid), { nil: undefined })
  const base = {
    id: field(["message-1"], [1, null]),
    date: field(["2026-11-30T00:00:00+00:00"], [false]),
    name: field([null, "n"], [3]),
    otid: field([null, "o"], [{}]),
    sender_id: field([null, "s"], [[]]),
    step_id: field([null, "step-1"], [1]),
    is_err: field([null, true, false], ["yes"]),
    seq_id: field([null, 1, 2.5], ["1"]),
    run_id: field([null, "run-1"], [7]),
    extra: field(["ignored"], [])
  }
  const assistant = fc.record({
    ...base,
    message_type: fc.constant("assistant_message"),
    content: field(["Hello", ""], [5, null, [{ type: "text", text: "array content" }]])
  }, { requiredKeys: ["message_type"] })
  const reasoning = fc.record({
    ...base,
    message_type: fc.constant("reasoning_message"),
    reasoning: field(["Thinking", ""], [null, 1]),
    source: field([null, "reasoner_model", "non_reasoner_model"], ["other"]),
    signature: field([null, "sig"], [1])
  }, { requiredKeys: ["message_type"] })
  const delta = fc.record({
    name: field([null, "web_search"], [1]),
    arguments: field([null, "{\"q\":", ""], [{}]),
    tool_call_id: field([null, "call_1"], [false]),
    extra: field(["dropped"], [])
  })
  const toolCall = fc.record({
    ...base,
    message_type: fc.constant("tool_call_message"),
    tool_call: fc.option(fc.oneof(delta, fc.constantFrom<unknown>(null, "x", 3, [])), { nil: undefined }),
    tool_calls: fc.option(fc.oneof(delta, fc.array(delta, { maxLength: 3 }), fc.constantFrom<unknown>(null, "x", [1])), {
      nil: undefined
    })
  }, { requiredKeys: ["message_type"] })
  const ping = fc.record({ ...base, message_type: fc.constant("ping") }, { requiredKeys: ["message_type"] })
  const stop = fc.record({
    ...base,
    message_type: fc.constant("stop_reason"),
    stop_reason: field(["end_turn", "made_up"], [null, 1])
  }, { requiredKeys: ["message_type"] })
  const count = field([0, 12, 1.5], [null, "3"])
  const nullableCount = field([null, 0, 7], ["7", true])
  const usage = fc.record({
    ...base,
    message_type: fc.constant("usage_statistics"),
    completion_tokens: count,
    prompt_tokens: count,
    total_tokens: count,
    step_count: nullableCount,
    cached_input_tokens: nullableCount,
    cache_write_tokens: nullableCount,
    reasoning_tokens: nullableCount,
    context_tokens: nullableCount,
    run_ids: field([null, [], ["run-1", "run-2"]], ["run-1", [1]])
  }, { requiredKeys: ["message_type"] })
  const strict = Schema.decodeUnknownEither(LettaSchema.LettaMessage)
  const isMessage = Schema.is(LettaSchema.LettaMessage)

  it("decodes every frame the schema accepts to what the schema gives, and leaves the rest to the schema", () =>
    fc.assert(fc.property(fc.oneof(assistant, reasoning, toolCall, ping, stop, usage), (record) => {
      // what JSON.parse gives: no undefined values
      const input = JSON.parse(JSON.stringify(record)) as unknown
      const direct = LettaSchema.decodeMessage(input)
      const viaSchema = strict(input)
      if (Either.isRight(viaSchema)) {
        assert.isTrue(Either.isRight(direct))
        assert.deepStrictEqual(Either.getOrThrow(direct), viaSchema.right)
      }
      // whatever it gives is a message of the schema (the rest is left to it: a field it reads fails, others drop)
      if (Either.isRight(direct)) assert.isTrue(isMessage(direct.right), JSON.stringify(direct.right))
    }), { numRuns: 5_000 }))
})
