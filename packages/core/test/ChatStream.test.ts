import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Option, Stream } from "effect"
import { ChatStream, LettaSchema, type StreamEvent } from "../src/index.js"
import * as Letta from "./utils/letta.js"

const decoded = (...wire: ReadonlyArray<unknown>): ReadonlyArray<LettaSchema.LettaMessage> =>
  wire.map((message) => Either.getOrThrow(LettaSchema.decodeMessage(message)))

const events = (...wire: ReadonlyArray<unknown>) =>
  Effect.map(
    Stream.runCollect(ChatStream.toEvents(Stream.fromIterable(decoded(...wire)))),
    (chunk): ReadonlyArray<StreamEvent.StreamEvent> => Chunk.toReadonlyArray(chunk)
  )

const ofType = <T extends StreamEvent.Type>(all: ReadonlyArray<StreamEvent.StreamEvent>, type: T) =>
  all.filter((event): event is StreamEvent.Of<T> => event.type === type)

describe("ChatStream.toEvents", () => {
  it.effect("token mode: deltas of one LLM response share an id and are told apart by otid", () =>
    Effect.gen(function*() {
      const all = yield* events(
        Letta.ping,
        Letta.reasoning("The user"),
        Letta.reasoning(" greets me."),
        Letta.assistant("Hel"),
        Letta.assistant("lo!"),
        Letta.stopReason(),
        Letta.usage
      )
      assert.deepStrictEqual(all.map((e) => e.type), ["reasoning", "reasoning", "message", "message", "usage", "done"])
      const reasoningIds = new Set(ofType(all, "reasoning").map((e) => e.data.id))
      const messageIds = new Set(ofType(all, "message").map((e) => e.data.id))
      assert.deepStrictEqual([...reasoningIds], [Letta.reasoningOtid])
      assert.deepStrictEqual([...messageIds], [Letta.assistantOtid])
      const turn = yield* ChatStream.collect(Stream.fromIterable(all))
      assert.strictEqual(turn.reasoning, "The user greets me.")
      assert.strictEqual(turn.content, "Hello!")
    }))

  it.effect("a new otid after another type starts a new message (interleaved steps)", () =>
    Effect.gen(function*() {
      const secondOtid = "7e0f738b-d138-40d6-bac7-4347751d5702"
      const thirdOtid = "7e0f738b-d138-40d6-bac7-4347751d5703"
      const all = yield* events(
        Letta.assistant("First."),
        Letta.reasoning("Hmm, more.", secondOtid),
        Letta.assistant("Second.", thirdOtid),
        Letta.stopReason()
      )
      const turn = yield* ChatStream.collect(Stream.fromIterable(all))
      assert.strictEqual(turn.content, "First.\n\nSecond.")
      assert.strictEqual(turn.reasoning, "Hmm, more.")
    }))

  it.effect("without otid (legacy, App Server) the id and type group deltas", () =>
    Effect.gen(function*() {
      const all = yield* events(
        { id: "ui-msg-4:assistant:1", date: "d", message_type: "assistant_message", content: [{ type: "text", text: "Hel" }] },
        { id: "ui-msg-4:assistant:1", date: "d", message_type: "assistant_message", content: [{ type: "text", text: "lo" }] },
        Letta.stopReason()
      )
      const messages = ofType(all, "message")
      assert.deepStrictEqual(messages.map((m) => m.data), [
        { id: "ui-msg-4:assistant:1:assistant_message", content: "Hel" },
        { id: "ui-msg-4:assistant:1:assistant_message", content: "lo" }
      ])
    }))

  it.effect("token mode: tool-call argument fragments are joined per tool_call_id, name from the first delta", () =>
    Effect.gen(function*() {
      const all = yield* events(
        Letta.toolCallDelta({ tool_call_id: "call_1", name: "web_search" }),
        Letta.toolCallDelta({ tool_call_id: "call_1", arguments: "{\"que" }),
        Letta.toolCallDelta({ arguments: "ry\": \"lisbon" }), // no id: belongs to the last call of this otid
        Letta.toolCallDelta({ tool_call_id: "call_1", arguments: "\"}" }),
        Letta.toolReturn("call_1", "3 results"),
        Letta.assistant("Found it."),
        Letta.stopReason()
      )
      assert.deepStrictEqual(all.map((e) => e.type), ["tool_call", "status", "tool_result", "status", "message", "done"])
      assert.deepStrictEqual(ofType(all, "tool_call")[0]?.data, {
        id: "call_1",
        name: "web_search",
        arguments: "{\"query\": \"lisbon\"}",
        requires_approval: false
      })
      assert.deepStrictEqual(ofType(all, "tool_result")[0]?.data, {
        id: "call_1",
        name: "web_search",
        status: "success",
        output: "3 results"
      })
      assert.deepStrictEqual(ofType(all, "status").map((s) => s.data), [
        { description: "Running web_search…", done: false },
        { description: "web_search finished", done: true }
      ])
    }))

  it.effect("parallel tool calls in one response keep their own arguments", () =>
    Effect.gen(function*() {
      const all = yield* events(
        Letta.toolCallDelta({ tool_call_id: "a", name: "one", arguments: "{\"x\":" }),
        Letta.toolCallDelta({ tool_call_id: "b", name: "two", arguments: "{\"y\":" }),
        Letta.toolCallDelta({ tool_call_id: "a", arguments: "1}" }),
        Letta.toolCallDelta({ tool_call_id: "b", arguments: "2}" }),
        Letta.stopReason()
      )
      assert.deepStrictEqual(ofType(all, "tool_call").map((c) => [c.data.id, c.data.name, c.data.arguments]), [
        ["a", "one", "{\"x\":1}"],
        ["b", "two", "{\"y\":2}"]
      ])
    }))

  it.effect("step mode: a complete call is not counted twice from tool_call and tool_calls", () =>
    Effect.gen(function*() {
      const all = yield* events(
        Letta.toolCallStep([{ name: "web_search", arguments: "{\"query\": \"x\"}", tool_call_id: "call_1" }]),
        Letta.toolReturn("call_1", "boom", "error"),
        Letta.stopReason()
      )
      const calls = ofType(all, "tool_call")
      assert.strictEqual(calls.length, 1)
      assert.strictEqual(calls[0]?.data.arguments, "{\"query\": \"x\"}")
      assert.deepStrictEqual(ofType(all, "tool_result")[0]?.data.status, "error")
      assert.deepStrictEqual(ofType(all, "status").at(-1)?.data, { description: "web_search failed", done: true })
    }))

  it.effect("an approval request is a tool call that requires approval, and the turn ends with that reason", () =>
    Effect.gen(function*() {
      const all = yield* events(
        { ...Letta.toolCallStep([{ name: "delete_file", arguments: "{}", tool_call_id: "c9" }]), message_type: "approval_request_message" },
        Letta.stopReason("requires_approval")
      )
      assert.strictEqual(ofType(all, "tool_call")[0]?.data.requires_approval, true)
      assert.deepStrictEqual(all.at(-1), { type: "done", data: { stop_reason: "requires_approval", run_id: Letta.runId } })
    }))

  it.effect("done carries the stop reason and the run id of the first ping; usage keeps Letta's counts", () =>
    Effect.gen(function*() {
      const all = yield* events(Letta.ping, Letta.assistant("x"), Letta.stopReason("max_steps"), Letta.usage)
      assert.deepStrictEqual(all.at(-1), { type: "done", data: { stop_reason: "max_steps", run_id: Letta.runId } })
      assert.deepStrictEqual(ofType(all, "usage")[0]?.data, {
        prompt_tokens: 2310,
        completion_tokens: 42,
        total_tokens: 2352,
        step_count: 1
      })
    }))

  it.effect("a call still pending at the end of the stream is emitted before done", () =>
    Effect.gen(function*() {
      const all = yield* events(Letta.toolCallDelta({ tool_call_id: "z", name: "late", arguments: "{}" }))
      assert.deepStrictEqual(all.map((e) => e.type), ["tool_call", "status", "done"])
      assert.deepStrictEqual(all.at(-1), { type: "done", data: { stop_reason: null, run_id: Letta.runId } })
    }))

  it.effect("pings, user echoes and unknown types produce no events", () =>
    Effect.gen(function*() {
      const all = yield* events(
        Letta.ping,
        { id: "message-u", date: "d", message_type: "user_message", content: "hi" },
        { message_type: "something_new", payload: 1 }
      )
      assert.deepStrictEqual(all.map((e) => e.type), ["done"])
    }))

  it.effect("collect assembles the whole turn", () =>
    Effect.gen(function*() {
      const all = yield* events(
        Letta.reasoning("Think."),
        Letta.toolCallStep([{ name: "web_search", arguments: "{}", tool_call_id: "c" }]),
        Letta.toolReturn("c", "ok"),
        Letta.assistant("Answer."),
        Letta.stopReason(),
        Letta.usage
      )
      const turn = yield* ChatStream.collect(Stream.fromIterable(all))
      assert.strictEqual(turn.content, "Answer.")
      assert.strictEqual(turn.reasoning, "Think.")
      assert.strictEqual(turn.toolCalls.length, 1)
      assert.strictEqual(turn.toolResults[0]?.output, "ok")
      assert.strictEqual(Option.getOrThrow(turn.usage).total_tokens, 2352)
      assert.strictEqual(turn.stopReason, "end_turn")
      assert.isTrue(Option.isNone(turn.error))
    }))
})
