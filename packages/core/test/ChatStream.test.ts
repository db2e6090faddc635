import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Option, Stream } from "effect"
import { ChatStream, LettaError, LettaSchema, type StreamEvent } from "../src/index.js"
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

  it.effect("a call still pending at the end of the stream is emitted, marked not run, before done", () =>
    Effect.gen(function*() {
      const all = yield* events(Letta.toolCallDelta({ tool_call_id: "z", name: "late", arguments: "{}" }))
      assert.deepStrictEqual(all.map((e) => e.type), ["tool_call", "status", "tool_result", "status", "done"])
      assert.deepStrictEqual(all.at(-1), { type: "done", data: { stop_reason: null, run_id: Letta.runId } })
    }))

  it.effect("pings, user echoes and unknown types produce no events", () =>
    Effect.gen(function*() {
      const all = yield* events(
        Letta.ping,
        { id: "message-u", date: "d", message_type: "user_message", content: "hi" },
        { message_type: "something_new", payload: 1 },
        Letta.assistant("Hi.")
      )
      assert.deepStrictEqual(all.map((e) => e.type), ["message", "done"])
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

/** The events of a turn, and how it ended (its failure, if any). */
const outcome = (...wire: ReadonlyArray<unknown>) =>
  Effect.gen(function*() {
    const seen: Array<StreamEvent.StreamEvent> = []
    const exit = yield* Effect.either(
      Stream.runForEach(ChatStream.toEvents(Stream.fromIterable(decoded(...wire)), { agentId: Letta.agentId }), (event) =>
        Effect.sync(() => seen.push(event)))
    )
    return { events: seen, failure: Either.isLeft(exit) ? Option.some(exit.left) : Option.none() }
  })

/** Every status that opened (done: false) is closed by a later one (done: true). */
const statusesClosed = (all: ReadonlyArray<StreamEvent.StreamEvent>) => {
  const statuses = ofType(all, "status")
  const lastOpen = statuses.findLastIndex((s) => !s.data.done)
  return lastOpen === -1 || statuses.slice(lastOpen + 1).some((s) => s.data.done)
}

describe("how a turn ends", () => {
  // Letta's StopReasonType values by which a run failed (letta/schemas/letta_stop_reason.py, run_status)
  const failing = [
    "error",
    "llm_api_error",
    "invalid_llm_response",
    "invalid_tool_call",
    "no_tool_call",
    "insufficient_credits",
    "context_window_overflow_in_system_prompt"
  ]

  it.effect("a failing stop reason without an error event fails with a LettaError naming it; partial text stays", () =>
    Effect.gen(function*() {
      for (const reason of failing) {
        // the exact frames: partial text, then the stop reason, usage and no `event: error`
        const { events: all, failure } = yield* outcome(
          Letta.ping,
          Letta.assistant("Partial ans"),
          Letta.stopReason(reason),
          Letta.usage
        )
        assert.deepStrictEqual(all.map((e) => e.type), ["message", "usage"], reason)
        assert.strictEqual(ofType(all, "message")[0]?.data.content, "Partial ans")
        const error = Option.getOrThrow(failure)
        assert.strictEqual(error._tag, "LettaError", reason)
        if (error._tag !== "LettaError") continue
        assert.strictEqual(error.reason, "RunFailed", reason)
        assert.strictEqual(error.stopReason, reason)
        assert.strictEqual(error.runId, Letta.runId)
        assert.strictEqual(error.agentId, Letta.agentId)
        assert.include(error.message, `stop reason ${reason}`)
        assert.notInclude(error.message, "check the agent id")
      }
    }))

  it.effect("cancelled is a Cancelled error; completed reasons end with done", () =>
    Effect.gen(function*() {
      const cancelled = yield* outcome(Letta.assistant("Hal"), Letta.stopReason("cancelled"))
      const error = Option.getOrThrow(cancelled.failure)
      assert.isTrue(error._tag === "LettaError" && error.reason === "Cancelled" && error.stopReason === "cancelled")
      for (const reason of ["end_turn", "max_steps", "tool_rule", "requires_approval", "max_tokens_exceeded", "new_reason"]) {
        const { events: all, failure } = yield* outcome(Letta.assistant("Done."), Letta.stopReason(reason))
        assert.isTrue(Option.isNone(failure), reason)
        assert.deepStrictEqual(all.at(-1), { type: "done", data: { stop_reason: reason, run_id: Letta.runId } })
      }
    }))

  it.effect("an error event after a failing stop reason wins: its own words reach the user", () =>
    Effect.gen(function*() {
      const inBand = new LettaError.LettaError({ reason: "StreamError", detail: "Rate limit exceeded" })
      const messages = Stream.concat(
        Stream.fromIterable(decoded(Letta.assistant("Hi"), Letta.stopReason("llm_api_error"))),
        Stream.fail(inBand)
      )
      const result = yield* Effect.either(Stream.runCollect(ChatStream.toEvents(messages)))
      assert.deepStrictEqual(result, Either.left(inBand))
    }))

  it.effect("max_steps after a tool call that never got its return: the call is shown as not run, statuses closed", () =>
    Effect.gen(function*() {
      const { events: all, failure } = yield* outcome(
        Letta.toolCallDelta({ tool_call_id: "call_1", name: "web_search" }),
        Letta.toolCallDelta({ tool_call_id: "call_1", arguments: "{\"query\":\"x\"}" }),
        Letta.stopReason("max_steps"),
        Letta.usage
      )
      assert.isTrue(Option.isNone(failure))
      assert.deepStrictEqual(all.map((e) => e.type), ["tool_call", "status", "tool_result", "status", "usage", "done"])
      const result = ofType(all, "tool_result")[0]?.data
      assert.strictEqual(result?.status, "not_run")
      assert.strictEqual(result?.name, "web_search")
      assert.include(result?.output ?? "", "max_steps")
      assert.isTrue(statusesClosed(all))
    }))

  it.effect("a stream cut after a tool call: the call is shown as not run, then the failure passes through", () =>
    Effect.gen(function*() {
      const cut = new LettaError.LettaError({ reason: "Incomplete", detail: "the stream ended without a stop_reason" })
      const messages = Stream.concat(
        Stream.fromIterable(decoded(
          Letta.toolCallStep([{ name: "web_search", arguments: "{}", tool_call_id: "call_1" }]),
          Letta.reasoning("Waiting for the tool.")
        )),
        Stream.fail(cut)
      )
      const seen: Array<StreamEvent.StreamEvent> = []
      const result = yield* Effect.either(Stream.runForEach(ChatStream.toEvents(messages), (e) => Effect.sync(() => seen.push(e))))
      assert.deepStrictEqual(result, Either.left(cut))
      assert.deepStrictEqual(seen.map((e) => e.type), ["tool_call", "status", "reasoning", "tool_result", "status"])
      assert.strictEqual(ofType(seen, "tool_result")[0]?.data.status, "not_run")
      assert.include(ofType(seen, "tool_result")[0]?.data.output ?? "", "stream ended")
      assert.isTrue(statusesClosed(seen))
    }))

  it.effect("a call that asks for approval is not marked not run: its status is already closed", () =>
    Effect.gen(function*() {
      const { events: all } = yield* outcome(
        { ...Letta.toolCallStep([{ name: "rm", arguments: "{}", tool_call_id: "c" }]), message_type: "approval_request_message" },
        Letta.stopReason("requires_approval")
      )
      assert.deepStrictEqual(all.map((e) => e.type), ["tool_call", "status", "done"])
      assert.isTrue(statusesClosed(all))
    }))

  it.effect("wire ids such as __proto__ are plain keys", () =>
    Effect.gen(function*() {
      const { events: all } = yield* outcome(
        Letta.toolCallStep([{ name: "web_search", arguments: "{}", tool_call_id: "__proto__" }]),
        Letta.toolReturn("__proto__", "ok"),
        Letta.toolReturn("constructor", "orphan"),
        Letta.stopReason()
      )
      assert.deepStrictEqual(ofType(all, "tool_result").map((r) => r.data.name), ["web_search", "tool"])
    }))
})

describe("never an empty success", () => {
  it.effect("a turn without text or a tool call is an Empty error naming what happened, also with reasoning only", () =>
    Effect.gen(function*() {
      for (const wire of [
        [Letta.ping, Letta.stopReason("end_turn"), Letta.usage],
        [Letta.reasoning("Thinking, then nothing."), Letta.stopReason("max_steps")],
        [Letta.assistant(""), Letta.stopReason()]
      ]) {
        const { events: all, failure } = yield* outcome(...wire)
        assert.isFalse(all.some((e) => e.type === "done"))
        const error = Option.getOrThrow(failure)
        assert.isTrue(error._tag === "LettaError" && error.reason === "Empty", String(error))
        assert.include(error.message, "ended the turn without an answer: no text and no tool call")
        const stop = wire.find((m) => m.message_type === "stop_reason")
        assert.include(error.message, `stop reason ${String(stop !== undefined && "stop_reason" in stop ? stop.stop_reason : "")}`)
      }
      // a tool call alone is an answer
      const { failure } = yield* outcome(
        Letta.toolCallStep([{ name: "core_memory_append", arguments: "{}", tool_call_id: "c" }]),
        Letta.toolReturn("c", "ok"),
        Letta.stopReason()
      )
      assert.isTrue(Option.isNone(failure))
    }))
})

describe("separated", () => {
  it.effect("consecutive reasoning messages do not run together, in events or collected", () =>
    Effect.gen(function*() {
      const all = yield* events(
        Letta.reasoning("Compacting first.", "7e0f738b-d138-40d6-bac7-4347751d5710"),
        Letta.reasoning("Now answer.", "7e0f738b-d138-40d6-bac7-4347751d5711"),
        Letta.assistant("Done."),
        Letta.stopReason()
      )
      const reasoning = ofType(all, "reasoning")
      let last: string | null = null
      let text = ""
      for (const r of reasoning) {
        text += ChatStream.separated(last, r.data.id, r.data.content)
        last = r.data.id
      }
      assert.strictEqual(text, "Compacting first.\n\nNow answer.")
      assert.strictEqual((yield* ChatStream.collect(Stream.fromIterable(all))).reasoning, text)
    }))
})
