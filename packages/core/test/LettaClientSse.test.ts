/**
 * SSE framing of Letta streams, through the real client over recorded bytes (one test per case).
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Stream } from "effect"
import { LettaClient } from "../src/index.js"
import * as Letta from "./utils/letta.js"
import * as Mock from "./utils/MockHttpClient.js"

const body = { messages: [{ role: "user" as const, content: "Hi" }] }

/** Streams one turn whose response body arrives in `chunks`; collects messages and the final error, if any. */
const run = (chunks: ReadonlyArray<string | Uint8Array>, maxFrames?: number) =>
  Effect.gen(function*() {
    const client = yield* LettaClient.LettaClient
    const items = yield* client.streamMessage(Letta.agentId, body).pipe(
      (stream) => (maxFrames === undefined ? stream : Stream.take(stream, maxFrames)),
      Stream.either,
      Stream.runCollect
    )
    const all = Chunk.toReadonlyArray(items)
    return {
      messages: all.flatMap((item) => (Either.isRight(item) ? [item.right] : [])),
      error: all.flatMap((item) => (Either.isLeft(item) ? [item.left] : []))[0]
    }
  }).pipe(Effect.provide(Mock.clientLayer(() => Mock.sse(chunks))))

const types = (messages: ReadonlyArray<{ readonly message_type: string }>) => messages.map((m) => m.message_type)

const fullTurn = Mock.frames(
  Letta.ping,
  Letta.reasoning("The user greets me."),
  Letta.assistant("Héllo 👋, how can I help?"),
  Letta.stopReason(),
  Letta.usage,
  "[DONE]"
)
const fullTurnTypes = ["ping", "reasoning_message", "assistant_message", "stop_reason", "usage_statistics"]

describe("LettaClient SSE", () => {
  it.effect("LF framing", () =>
    Effect.gen(function*() {
      const { messages, error } = yield* run([fullTurn])
      assert.isUndefined(error)
      assert.deepStrictEqual(types(messages), fullTurnTypes)
    }))

  it.effect("CRLF framing, also when a chunk ends between CR and LF inside a multi-line event", () =>
    Effect.gen(function*() {
      const crlf = fullTurn.replaceAll("\n", "\r\n")
      const whole = yield* run([crlf])
      assert.deepStrictEqual(types(whole.messages), fullTurnTypes)
      // a two-line data field split right after its CR
      const twoLines = `data: {"message_type":"stop_reason",\r\ndata: "stop_reason":"end_turn"}\r\n\r\n`
      const cut = twoLines.indexOf("\r\n") + 1
      const split = yield* run([twoLines.slice(0, cut), twoLines.slice(cut)])
      assert.isUndefined(split.error)
      assert.deepStrictEqual(split.messages, [{ message_type: "stop_reason", stop_reason: "end_turn" }])
    }))

  it.effect("lone CR line endings", () =>
    Effect.gen(function*() {
      const { messages } = yield* run([fullTurn.replaceAll("\n", "\r")])
      assert.deepStrictEqual(types(messages), fullTurnTypes)
    }))

  it.effect("comment lines are ignored", () =>
    Effect.gen(function*() {
      const withComments = `: keep-alive\n\n${Mock.frames(Letta.assistant("a"))}: ping\n${
        Mock.frames(Letta.stopReason(), "[DONE]")
      }`
      const { messages, error } = yield* run([withComments])
      assert.isUndefined(error)
      assert.deepStrictEqual(types(messages), ["assistant_message", "stop_reason"])
    }))

  it.effect("multi-line data fields are joined with a newline", () =>
    Effect.gen(function*() {
      const multi = `data: {"message_type": "stop_reason",\ndata:  "stop_reason": "max_steps"}\n\ndata: [DONE]\n\n`
      const { messages } = yield* run([multi])
      assert.deepStrictEqual(messages, [{ message_type: "stop_reason", stop_reason: "max_steps" }])
    }))

  it.effect("chunk boundaries anywhere, including inside a UTF-8 character", () => {
    // one client for every cut; the responder sends whatever chunks the loop chose
    let chunks: ReadonlyArray<Uint8Array> = []
    const collect = Effect.flatMap(LettaClient.LettaClient, (client) =>
      Stream.runCollect(client.streamMessage(Letta.agentId, body))).pipe(Effect.map(Chunk.toReadonlyArray))
    return Effect.gen(function*() {
      const bytes = new TextEncoder().encode(fullTurn)
      chunks = [bytes]
      const expected = yield* collect
      assert.deepStrictEqual(types(expected), fullTurnTypes)
      const emojiAt = bytes.findIndex((_, i) => bytes[i] === 0xf0) // first byte of 👋
      assert.isAbove(emojiAt, 0)
      for (let cut = 1; cut < bytes.length; cut++) {
        chunks = [bytes.slice(0, cut), bytes.slice(cut)]
        assert.deepStrictEqual(yield* collect, expected, `cut at ${cut}`)
      }
      chunks = Array.from(bytes, (byte) => Uint8Array.of(byte))
      assert.deepStrictEqual(yield* collect, expected)
      const assistant = expected.find((m) => m.message_type === "assistant_message")
      assert.strictEqual(assistant?.message_type === "assistant_message" && assistant.content, "Héllo 👋, how can I help?")
    }).pipe(Effect.provide(Mock.clientLayer(() => Mock.sse(chunks))))
  }, { timeout: 60_000 })

  it.effect("data: [DONE] ends the stream; nothing after it is read", () =>
    Effect.gen(function*() {
      const { messages, error } = yield* run([Mock.frames(Letta.assistant("a"), "[DONE]", Letta.assistant("after"))])
      assert.isUndefined(error)
      assert.deepStrictEqual(types(messages), ["assistant_message"])
    }))

  it.effect("event: error with Letta's error message fails with a typed StreamError after the events before it", () =>
    Effect.gen(function*() {
      const tail = `${Mock.frames(Letta.assistant("partial"), Letta.stopReason("llm_api_error"))}event: error\ndata: ${
        JSON.stringify(Letta.errorMessage)
      }\n\n${Mock.frames("[DONE]")}`
      const { messages, error } = yield* run([tail])
      assert.deepStrictEqual(types(messages), ["assistant_message", "stop_reason"])
      assert.strictEqual(error?._tag, "LettaError")
      if (error?._tag !== "LettaError") return
      assert.strictEqual(error.reason, "StreamError")
      assert.strictEqual(error.errorType, "llm_rate_limit")
      assert.strictEqual(error.runId, Letta.runId)
      assert.include(error.message, "Rate limit exceeded")
      assert.include(error.message, Letta.agentId)
    }))

  it.effect("event: error with the transport shape {error, code}", () =>
    Effect.gen(function*() {
      const { error } = yield* run([
        `event: error\ndata: {"error": "connection to the LLM lost", "code": "INTERNAL_SERVER_ERROR"}\n\n`
      ])
      assert.strictEqual(error?._tag === "LettaError" && error.reason, "StreamError")
      assert.strictEqual(error?._tag === "LettaError" && error.errorType, "INTERNAL_SERVER_ERROR")
      assert.include(error?.message, "connection to the LLM lost")
    }))

  it.effect("event: cancelled fails with a Cancelled LettaError", () =>
    Effect.gen(function*() {
      const { messages, error } = yield* run([
        `${Mock.frames(Letta.assistant("a"))}event: cancelled\ndata: {"message": "Run was cancelled"}\n\n`
      ])
      assert.deepStrictEqual(types(messages), ["assistant_message"])
      assert.strictEqual(error?._tag === "LettaError" && error.reason, "Cancelled")
    }))

  it.effect("EOF without [DONE] is a normal end once Letta gave its stop reason", () =>
    Effect.gen(function*() {
      const { messages, error } = yield* run([Mock.frames(Letta.assistant("a"), Letta.stopReason(), Letta.usage)])
      assert.isUndefined(error)
      assert.deepStrictEqual(types(messages), ["assistant_message", "stop_reason", "usage_statistics"])
    }))

  it.effect("EOF without stop reason and without [DONE] is an Incomplete error", () =>
    Effect.gen(function*() {
      const { messages, error } = yield* run([Mock.frames(Letta.ping, Letta.assistant("cut sh"))])
      assert.deepStrictEqual(types(messages), ["ping", "assistant_message"])
      assert.strictEqual(error?._tag === "LettaError" && error.reason, "Incomplete")
    }))

  it.effect("a last event without its blank line is still delivered at EOF", () =>
    Effect.gen(function*() {
      const { messages, error } = yield* run([`${Mock.frames(Letta.assistant("a"))}data: ${JSON.stringify(Letta.stopReason())}`])
      assert.isUndefined(error)
      assert.deepStrictEqual(types(messages), ["assistant_message", "stop_reason"])
    }))

  it.effect("unknown event names are skipped, unknown message types pass as unknown", () =>
    Effect.gen(function*() {
      const { messages, error } = yield* run([
        `event: telemetry\ndata: {"x":1}\n\n${Mock.frames({ message_type: "new_kind", a: 1 }, Letta.stopReason(), "[DONE]")}`
      ])
      assert.isUndefined(error)
      assert.deepStrictEqual(types(messages), ["unknown", "stop_reason"])
    }))

  it.effect("a malformed JSON frame is a DecodeError of reason Json", () =>
    Effect.gen(function*() {
      const { error } = yield* run([Mock.frames(Letta.assistant("a")), "data: {\"message_type\": \"assist\n\n"])
      assert.strictEqual(error?._tag === "DecodeError" && error.reason, "Json")
      assert.include(error?.message, "stream event")
    }))

  it.effect("a malformed known message is a DecodeError of reason Schema", () =>
    Effect.gen(function*() {
      const { error } = yield* run([Mock.frames({ ...Letta.assistant("a"), content: 7 })])
      assert.strictEqual(error?._tag === "DecodeError" && error.reason, "Schema")
    }))

  it.effect("a frame above the size limit is a DecodeError of reason TooLarge, not a crash", () =>
    Effect.gen(function*() {
      const huge = `data: ${"x".repeat(9 * 1024 * 1024)}`
      const { error } = yield* run([huge])
      assert.strictEqual(error?._tag === "DecodeError" && error.reason, "TooLarge")
    }))

  it.effect("a stream answered as JSON is a DecodeError of reason ContentType", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const error = yield* client.streamMessage(Letta.agentId, body).pipe(Stream.runDrain, Effect.flip)
      assert.strictEqual(error._tag === "DecodeError" && error.reason, "ContentType")
    }).pipe(Effect.provide(Mock.clientLayer(() => Mock.json({ messages: [] })))))

  it.effect("frames the bridge does not need pass: a ping without id or date, odd and extra fields", () =>
    Effect.gen(function*() {
      const { messages, error } = yield* run([
        `data: {"message_type":"ping"}\n\n`,
        `data: {"message_type":"ping","run_id":"${Letta.runId}","seq_id":"x"}\n\n`,
        `data: {"message_type":"user_message","content":42}\n\n`,
        `data: {"id":"message-1","message_type":"assistant_message","otid":"o-1","content":"Hi","is_err":"no","shiny":true}\n\n`,
        `data: {"message_type":"stop_reason","stop_reason":"end_turn"}\n\n`,
        "data: [DONE]\n\n"
      ])
      assert.isUndefined(error)
      assert.deepStrictEqual(types(messages), ["ping", "ping", "unknown", "assistant_message", "stop_reason"])
    }))
})
