/**
 * Core's events over SSE (`/v1/pipe`) and over a WebSocket (`/v1/ws`).
 */
import { assert, layer } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { call, demoAgent, emulatorStats, emulatorStatsUntil, fields, serverLayer, wsConnect } from "./utils/harness.js"

const frames = (text: string) => text.split("\n\n").filter((frame) => frame !== "")

layer(serverLayer({ emulator: { stepDelay: Duration.millis(250) }, server: { heartbeat: Duration.millis(40) } }), {
  excludeTestServices: true
})("native SSE", (it) => {
  it.effect("POST /v1/pipe: id, event and data per event; comment heartbeats while the agent is quiet", () =>
    Effect.gen(function*() {
      const agent = yield* demoAgent
      const answer = yield* call("POST", "/v1/pipe", { body: { model: agent.id, messages: [{ role: "user", content: "native please" }] } })
      assert.strictEqual(answer.status, 200)
      const all = frames(answer.text)
      const heartbeats = all.filter((f) => f === ": ping")
      assert.isAtLeast(heartbeats.length, 2)
      const events = all.filter((f) => f !== ": ping")
      events.forEach((frame, index) => {
        const lines = frame.split("\n")
        assert.strictEqual(lines[0], `id: ${index + 1}`)
        const data = JSON.parse(lines.at(-1)?.slice(6) ?? "")
        if (data.type !== "message") assert.strictEqual(lines[1], `event: ${data.type}`)
      })
      const last = JSON.parse(events.at(-1)?.split("\n").at(-1)?.slice(6) ?? "")
      assert.deepStrictEqual(last.type, "done")
      assert.strictEqual(last.data.stop_reason, "end_turn")
    }))

  it.effect("a failing turn ends with an error event, not a broken stream", () =>
    Effect.gen(function*() {
      const answer = yield* call("POST", "/v1/pipe", { body: { model: "nobody", messages: [{ role: "user", content: "x" }] } })
      const data = frames(answer.text).filter((f) => f !== ": ping").map((f) => JSON.parse(f.split("\n").at(-1)?.slice(6) ?? ""))
      assert.strictEqual(data.length, 1)
      assert.strictEqual(data[0].type, "error")
      assert.strictEqual(data[0].data.reason, "NotFound")
    }))
})

layer(serverLayer({ emulator: { tokenDelay: Duration.millis(15) } }), { excludeTestServices: true })("WebSocket", (it) => {
  it.scoped("one turn per message, the socket stays open across turns", () =>
    Effect.gen(function*() {
      const ws = yield* wsConnect
      const agent = yield* demoAgent
      yield* ws.send({ type: "turn", model: agent.id, messages: [{ role: "user", content: "first over ws" }] })
      const first = yield* ws.untilEnd
      assert.strictEqual(first.at(-1)?.type, "done")
      assert.include(first.filter((e) => e.type === "message").map((e) => fields(e.data).content).join(""), "first over ws")
      yield* ws.send({ type: "turn", model: agent.id, messages: [{ role: "user", content: "second over ws" }] })
      const second = yield* ws.untilEnd
      assert.include(second.filter((e) => e.type === "message").map((e) => fields(e.data).content).join(""), "second over ws")
    }))

  it.scoped("cancel aborts the running turn upstream; bad messages get an error event and the socket lives on", () =>
    Effect.gen(function*() {
      const ws = yield* wsConnect
      const agent = yield* demoAgent
      const before = yield* emulatorStats
      yield* ws.send({ type: "turn", model: agent.id, messages: [{ role: "user", content: "a long answer to cancel midway" }] })
      yield* ws.next
      yield* ws.send({ type: "turn", model: agent.id, messages: [{ role: "user", content: "overlapping" }] })
      const busy = yield* Effect.repeat(ws.next, { until: (e) => e.type === "error" })
      assert.include(String(fields(busy.data).message), "already running")
      yield* ws.send({ type: "cancel" })
      const events = yield* ws.untilEnd
      assert.deepStrictEqual(events.at(-1), { type: "done", data: { stop_reason: "cancelled", run_id: null } })
      const after = yield* emulatorStatsUntil((s) => s.client_closed_streams > before.client_closed_streams)
      assert.strictEqual(after.active_streams, 0)
      yield* ws.send({ nonsense: true })
      const invalid = yield* ws.next
      assert.strictEqual(invalid.type, "error")
      assert.strictEqual(fields(invalid.data).reason, "InvalidRequest")
      yield* ws.send({ type: "turn", model: agent.id, messages: [{ role: "user", content: "still alive" }] })
      assert.strictEqual((yield* ws.untilEnd).at(-1)?.type, "done")
    }))
})
