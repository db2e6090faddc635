/**
 * Wire ids that name `Object.prototype` members (`constructor`, `__proto__`, `toString`, …) are ids like any other:
 * as `tool_call_id`, `otid` and frame keys, over a REST stream (exact SSE bytes), a blocking REST turn and the App
 * Server's WebSocket (a recorded session), down to the native event stream's JSON. A lookup by such an id in a plain
 * object would find the prototype's member (a function, or the prototype itself) and kill the turn with a defect.
 * The OpenAI surfaces are tested in packages/server/test/SecurityMarkup.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Option, Schema, Stream } from "effect"
import { ChatStream, LettaBackend, LettaClient, LettaConfig, type LettaSchema, StreamEvent } from "../src/index.js"
import { HttpTransport } from "../src/node.js"
import * as Replay from "./utils/appServerReplay.js"
import * as Letta from "./utils/letta.js"
import * as Mock from "./utils/MockHttpClient.js"

const prototypeIds = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "prototype"]

/** Another of them, for a result whose call never came. */
const otherOf = (id: string) => prototypeIds[(prototypeIds.indexOf(id) + 1) % prototypeIds.length] ?? "constructor"

const q = (text: string) => JSON.stringify(text)

/**
 * One token-mode turn as Letta streams it, `id` as the call's `tool_call_id` and as the `otid` of its fragments (a
 * fragment without `tool_call_id` belongs to the last call of its `otid`) and of the answer; the return frame carries
 * keys named like prototype members too; then the return of a call that never came.
 */
const turnBytes = (id: string) =>
  `data: {"id":"message-1","date":"2026-08-01T10:00:01+00:00","message_type":"tool_call_message","otid":${q(id)},"run_id":"${Letta.runId}","tool_call":{"tool_call_id":${q(id)},"name":"web_search"},"tool_calls":{"tool_call_id":${q(id)},"name":"web_search"}}\n\n` +
  `data: {"id":"message-1","date":"2026-08-01T10:00:01+00:00","message_type":"tool_call_message","otid":${q(id)},"run_id":"${Letta.runId}","tool_call":{"arguments":"{\\"query\\":"},"tool_calls":{"arguments":"{\\"query\\":"}}\n\n` +
  `data: {"id":"message-1","date":"2026-08-01T10:00:01+00:00","message_type":"tool_call_message","otid":${q(id)},"run_id":"${Letta.runId}","tool_call":{"tool_call_id":${q(id)},"arguments":"\\"letta\\"}"},"tool_calls":{"tool_call_id":${q(id)},"arguments":"\\"letta\\"}"}}\n\n` +
  `data: {"id":"message-2","date":"2026-08-01T10:00:02+00:00","message_type":"tool_return_message","otid":${q(id)},"run_id":"${Letta.runId}","tool_return":"3 results","status":"success","tool_call_id":${q(id)},"tool_returns":[{"type":"tool","tool_return":"3 results","status":"success","tool_call_id":${q(id)}}],"constructor":1,"__proto__":{"polluted":true},"toString":"x","hasOwnProperty":null}\n\n` +
  `data: {"id":"message-3","date":"2026-08-01T10:00:03+00:00","message_type":"tool_return_message","otid":null,"run_id":"${Letta.runId}","tool_return":"late","status":"error","tool_call_id":${q(otherOf(id))}}\n\n` +
  `data: {"id":"message-4","date":"2026-08-01T10:00:04+00:00","message_type":"assistant_message","otid":${q(id)},"run_id":"${Letta.runId}","content":"Found "}\n\n` +
  `data: {"id":"message-4","date":"2026-08-01T10:00:04+00:00","message_type":"assistant_message","otid":${q(id)},"run_id":"${Letta.runId}","content":"it."}\n\n` +
  `data: {"message_type":"stop_reason","stop_reason":"end_turn"}\n\n` +
  `data: ${JSON.stringify(Letta.usage)}\n\n` +
  `data: [DONE]\n\n`

const encodeEvent = Schema.encodeSync(StreamEvent.StreamEventJson)
const decodeEvent = Schema.decodeSync(StreamEvent.StreamEventJson)

const ofType = <T extends StreamEvent.Type>(all: ReadonlyArray<StreamEvent.StreamEvent>, type: T) =>
  all.filter((event): event is StreamEvent.Of<T> => event.type === type)

/** The events of a turn, through the native stream's JSON and back, as a client of `/v1/pipe` reads them. */
const throughNative = (events: ReadonlyArray<StreamEvent.StreamEvent>) =>
  events.map((event) => {
    const json = encodeEvent(event)
    const back = decodeEvent(json)
    assert.deepStrictEqual(back, event, json)
    return back
  })

const toEvents = (messages: Stream.Stream<LettaSchema.LettaMessage, unknown>) =>
  Effect.map(Stream.runCollect(ChatStream.toEvents(messages)), (chunk) => throughNative(Chunk.toReadonlyArray(chunk)))

/** The turn of `turnBytes`: the call shown with its arguments and result, the orphan result too, the answer, done. */
const assertTurn = (id: string, events: ReadonlyArray<StreamEvent.StreamEvent>) => {
  assert.deepStrictEqual(ofType(events, "tool_call").map((e) => e.data), [
    { id, name: "web_search", arguments: "{\"query\":\"letta\"}", requires_approval: false }
  ])
  assert.deepStrictEqual(ofType(events, "tool_result").map((e) => e.data), [
    { id, name: "web_search", status: "success", output: "3 results" },
    { id: otherOf(id), name: "tool", status: "error", output: "late" }
  ])
  assert.deepStrictEqual(ofType(events, "status").map((e) => e.data.description), [
    "Running web_search…",
    "web_search finished",
    "tool failed"
  ])
  assert.deepStrictEqual(ofType(events, "message").map((e) => e.data), [
    { id, content: "Found " },
    { id, content: "it." }
  ])
  assert.deepStrictEqual(events.at(-1), StreamEvent.done("end_turn", Letta.runId))
}

/** The recorded App Server tool turn with its `tool_call_id` replaced by `id`. */
const toolTurnWith = (id: string): ReturnType<typeof Replay.recording> =>
  JSON.parse(JSON.stringify(Replay.recording("ws-frames-tool-turn.jsonl")).replaceAll(q("call_stub_6"), q(id)))

const RecordedInput = Schema.Struct({
  runtime: Schema.Struct({ agent_id: Schema.String, conversation_id: Schema.String }),
  payload: Schema.Struct({
    messages: Schema.NonEmptyArray(Schema.Struct({ content: Schema.NonEmptyArray(Schema.Struct({ text: Schema.String })) }))
  })
})

let completed = 0

describe("prototype-named ids", () => {
  for (const id of prototypeIds) {
    it.effect(`REST stream, exact SSE bytes: tool_call_id and otid ${q(id)}, orphan result ${q(otherOf(id))}`, () =>
      Effect.gen(function*() {
        const client = yield* LettaClient.LettaClient
        const events = yield* toEvents(
          client.streamMessage(Letta.agentId, { messages: [{ role: "user", content: "search" }] })
        )
        assertTurn(id, events)
        const turn = yield* ChatStream.collect(Stream.fromIterable(events))
        assert.strictEqual(turn.content, "Found it.")
        assert.isTrue(Option.isNone(turn.error))
        completed++
      }).pipe(Effect.provide(Mock.clientLayer(() => Mock.sse([turnBytes(id)])))))

    it.effect(`REST blocking turn: tool_call_id and otid ${q(id)}, orphan result ${q(otherOf(id))}`, () =>
      Effect.gen(function*() {
        const client = yield* LettaClient.LettaClient
        const response = yield* client.sendMessage(Letta.agentId, { messages: [{ role: "user", content: "search" }] })
        // as the pipeline reads it: the messages, then the stop reason and the usage
        assertTurn(id, yield* toEvents(Stream.fromIterable([...response.messages, response.stop_reason, response.usage])))
        completed++
      }).pipe(Effect.provide(Mock.clientLayer(() => {
        const frames = turnBytes(id).split("\n\n").filter((frame) => frame.startsWith("data: {"))
          .map((frame): unknown => JSON.parse(frame.slice(6)))
        const messages = frames.filter((frame) => {
          const type = (frame as { readonly message_type?: unknown }).message_type
          return type !== "stop_reason" && type !== "usage_statistics"
        })
        return Mock.json({ messages, stop_reason: { message_type: "stop_reason", stop_reason: "end_turn" }, usage: Letta.usage })
      }))))

    it.scoped(`App Server WebSocket, recorded tool turn: tool_call_id ${q(id)}`, () =>
      Effect.gen(function*() {
        const frames = toolTurnWith(id)
        const replay = yield* Replay.replay({ frames })
        const client = yield* Effect.provide(
          LettaClient.LettaClient,
          LettaBackend.layerSettings(LettaConfig.make({ baseUrl: replay.url })).pipe(
            Layer.provide(HttpTransport.layer(LettaConfig.make({ baseUrl: replay.url }))),
            Layer.orDie
          )
        )
        const input = Schema.decodeUnknownSync(RecordedInput)(Replay.command(frames, "input"))
        const events = yield* toEvents(client.streamConversation(input.runtime.conversation_id, {
          agent_id: input.runtime.agent_id,
          messages: [{ role: "user", content: input.payload.messages[0].content[0].text }]
        }))
        assert.deepStrictEqual(ofType(events, "tool_call").map((e) => [e.data.id, e.data.name]), [[id, "Read"]])
        assert.deepStrictEqual(ofType(events, "tool_result").map((e) => [e.data.id, e.data.name, e.data.status]), [
          [id, "Read", "success"]
        ])
        assert.strictEqual(events.at(-1)?.type, "done")
        completed++
        if (id === prototypeIds.at(-1)) {
          console.log(`prototype-named ids: ${completed} turns of ${prototypeIds.length * 3} completed with the call shown`)
        }
      }))
  }
})
