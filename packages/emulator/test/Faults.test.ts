/**
 * Every fault, as the raw wire shows it and as core's client experiences it.
 */
import { assert, describe, layer } from "@effect/vitest"
import { LettaClient, Pipeline, StreamEvent } from "@letta-pipeline/core"
import { Chunk, Duration, Effect, Layer, Option, Stream } from "effect"
import { demoAgentId, emulatorLayer, coreLayer, fields, frames, json, payloads, request, turn } from "./utils/harness.js"

// connect and idle bounds of seconds: the suites around share two busy cores, and a stall or a slow first byte (30 s
// here) still runs into them
const timeouts = { connect: Duration.seconds(2), firstEvent: Duration.seconds(5), idle: Duration.seconds(2), turn: Duration.seconds(20) }

const Live = coreLayer({ timeouts, streamTokens: true }).pipe(
  Layer.provideMerge(emulatorLayer({ stall: Duration.seconds(30), firstByteDelay: Duration.seconds(30) }))
)

const events = (text: string) =>
  Effect.gen(function*() {
    const pipeline = yield* Pipeline.Pipeline
    const agent = yield* demoAgentId
    const all = yield* Stream.runCollect(StreamEvent.catchToEvent(
      pipeline.pipe({ model: agent, messages: [{ role: "user", content: text }], body: {} })
    ))
    return Chunk.toReadonlyArray(all)
  })

const failure = (text: string) =>
  Effect.gen(function*() {
    const client = yield* LettaClient.LettaClient
    const agent = yield* demoAgentId
    return yield* Effect.flip(Stream.runDrain(client.streamMessage(agent, { ...turn(text), stream_tokens: true })))
  })

layer(Live, { excludeTestServices: true })("faults", (it) => {
  describe("status", () => {
    it.effect("a marker in the message: the status with a Letta body, before any stream", () =>
      Effect.gen(function*() {
        const error = yield* failure("hello [[fault:status:503]]")
        assert.strictEqual(error._tag === "LettaError" && error.reason, "ServerError")
        assert.strictEqual(error._tag === "LettaError" && error.status, 503)
        assert.include(error.message, "Emulated failure")
      }))

    it.effect("the X-Emulator-Fault header works on any route", () =>
      Effect.gen(function*() {
        const answer = yield* request("GET", "/v1/agents/", { headers: { "x-emulator-fault": "status:429" } })
        assert.strictEqual(answer.status, 429)
        assert.deepStrictEqual(json(answer), { detail: "Emulated failure (fault status:429)" })
      }))
  })

  it.effect("reset: the connection dies mid-stream; the client gets a Transport error after the first events", () =>
    Effect.gen(function*() {
      const all = yield* events("hi [[fault:reset]]")
      assert.strictEqual(all[0]?.type, "reasoning")
      const last = all.at(-1)
      assert.strictEqual(last?.type === "error" && last.data.error, "HttpError")
      assert.strictEqual(last?.type === "error" && last.data.reason, "Transport")
    }))

  it.effect("malformed: a cut-off JSON frame is a DecodeError", () =>
    Effect.gen(function*() {
      const error = yield* failure("hi [[fault:malformed]]")
      assert.strictEqual(error._tag === "DecodeError" && error.reason, "Json")
    }))

  it.effect("unknown-type: a frame of an unknown type is skipped and the turn completes", () =>
    Effect.gen(function*() {
      const agent = yield* demoAgentId
      const raw = yield* request("POST", `/v1/agents/${agent}/messages/stream`, { body: turn("hi [[fault:unknown-type]]") })
      assert.isTrue(payloads(raw.text).some((m) => m.message_type === "emulator_trace_message"))
      const all = yield* events("hi [[fault:unknown-type]]")
      assert.strictEqual(all.at(-1)?.type, "done")
      assert.isFalse(all.some((e) => e.type === "error"))
    }))

  it.effect("no-done: the stream ends after stop reason and usage; clients end normally", () =>
    Effect.gen(function*() {
      const agent = yield* demoAgentId
      const raw = yield* request("POST", `/v1/agents/${agent}/messages/stream`, { body: turn("hi [[fault:no-done]]") })
      assert.notStrictEqual(frames(raw.text).at(-1), "data: [DONE]")
      assert.strictEqual(payloads(raw.text).at(-1)?.message_type, "usage_statistics")
      const all = yield* events("hi [[fault:no-done]]")
      const last = all.at(-1)
      assert.strictEqual(last?.type === "done" && last.data.stop_reason, "end_turn")
    }))

  it.effect("stall: silence without pings runs into the client's idle timeout", () =>
    Effect.gen(function*() {
      const error = yield* failure("hi [[fault:stall]]")
      assert.strictEqual(error._tag === "HttpError" && error.reason, "Timeout")
      assert.strictEqual(error._tag === "HttpError" && error.phase, "idle")
    }))

  it.effect("llm-error: Letta's in-band error tail becomes a typed StreamError", () =>
    Effect.gen(function*() {
      const agent = yield* demoAgentId
      const raw = yield* request("POST", `/v1/agents/${agent}/messages/stream`, { body: turn("hi [[fault:llm-error]]") })
      const tail = frames(raw.text).slice(-3)
      assert.strictEqual(tail[0], "data: {\"message_type\":\"stop_reason\",\"stop_reason\":\"llm_api_error\"}")
      assert.isTrue(tail[1]?.startsWith("event: error\ndata: {\"message_type\":\"error_message\""))
      assert.strictEqual(tail[2], "data: [DONE]")
      const error = yield* failure("hi [[fault:llm-error]]")
      assert.strictEqual(error._tag === "LettaError" && error.reason, "StreamError")
      assert.strictEqual(error._tag === "LettaError" && error.errorType, "llm_error")
      const json = yield* request("POST", `/v1/agents/${agent}/messages`, { body: turn("hi [[fault:llm-error]]") })
      assert.strictEqual(json.status, 500)
      assert.strictEqual(fields(fields(JSON.parse(json.text)).error).type, "llm_error")
    }))

  it.effect("stop:<reason>: the first response, then that stop reason, usage and [DONE], no error event", () =>
    Effect.gen(function*() {
      const agent = yield* demoAgentId
      const raw = yield* request("POST", `/v1/agents/${agent}/messages/stream`, { body: turn("search for x [[fault:stop:max_steps]]") })
      const tail = frames(raw.text).slice(-3)
      assert.strictEqual(tail[0], "data: {\"message_type\":\"stop_reason\",\"stop_reason\":\"max_steps\"}")
      assert.strictEqual(tail[2], "data: [DONE]")
      assert.isFalse(raw.text.includes("event: error"))
      const types = payloads(raw.text).map((m) => m.message_type)
      assert.include(types, "tool_call_message")
      assert.notInclude(types, "tool_return_message")
      // the client passes the frames on; the pipeline's rule makes the failing stop reason an error
      const last = (yield* events("hi [[fault:stop:llm_api_error]]")).at(-1)
      assert.isTrue(last?.type === "error" && last.data.reason === "RunFailed" && last.data.message.includes("llm_api_error"))
    }))

  it.effect("odd-frames: a ping without id or date and other frames no client needs; the turn completes", () =>
    Effect.gen(function*() {
      const agent = yield* demoAgentId
      const raw = yield* request("POST", `/v1/agents/${agent}/messages/stream`, { body: turn("hi [[fault:odd-frames]]") })
      assert.include(frames(raw.text), "data: {\"message_type\":\"ping\"}")
      assert.isTrue(payloads(raw.text).some((m) => m.message_type === "user_message" && m.content === 42))
      const all = yield* events("hi [[fault:odd-frames]]")
      assert.strictEqual(all.at(-1)?.type, "done")
    }))

  it.effect("huge-output: a 190 KB tool result and a 100 KB answer, each in one frame", () =>
    Effect.gen(function*() {
      const agent = yield* demoAgentId
      const raw = yield* request("POST", `/v1/agents/${agent}/messages/stream`, { body: turn("hi [[fault:huge-output]]") })
      const sizes = new Map(payloads(raw.text).map((m) => [m.message_type, Buffer.byteLength(JSON.stringify(m))]))
      assert.isAbove(sizes.get("tool_return_message") ?? 0, 2 * 190_000)
      assert.isAbove(sizes.get("assistant_message") ?? 0, 100_000)
      const all = yield* events("hi [[fault:huge-output]]")
      assert.strictEqual(all.at(-1)?.type, "done")
    }))

  it.effect("slow-first-byte: no headers in time is the client's connect timeout", () =>
    Effect.gen(function*() {
      const error = yield* failure("hi [[fault:slow-first-byte]]")
      assert.strictEqual(error._tag === "HttpError" && error.phase, "connect")
    }))
})

layer(emulatorLayer({ fault: Option.some({ kind: "status", status: 500 }) }), { excludeTestServices: true })(
  "a global fault",
  (it) => {
    it.effect("EMULATOR_FAULT applies to every request but health", () =>
      Effect.gen(function*() {
        assert.strictEqual((yield* request("GET", "/v1/agents/")).status, 500)
        assert.strictEqual((yield* request("GET", "/v1/health/")).status, 200)
      }))
  }
)
