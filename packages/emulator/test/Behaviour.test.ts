/**
 * Disconnect accounting, cancellation, keepalive pings, `--secure` auth, and core's pipeline against the emulator.
 */
import { assert, layer } from "@effect/vitest"
import { ChatStream, LettaClient, Pipeline } from "@letta-pipeline/core"
import { Chunk, Duration, Effect, Fiber, Layer, Option, Redacted, Schedule, Stream } from "effect"
import { Emulator } from "../src/index.js"
import { coreLayer, demoAgentId, emulatorLayer, fields, frames, json, payloads, request, turn } from "./utils/harness.js"

const stats = Effect.flatMap(Emulator.Emulator, (emulator) => emulator.stats.snapshot)

/** Polls the emulator's stats until `done` holds; fails after ~5 s. */
const statsUntil = (done: (s: Effect.Effect.Success<typeof stats>) => boolean) =>
  stats.pipe(
    Effect.filterOrFail(done, () => new Error("stats not settled yet")),
    Effect.retry(Schedule.spaced("10 millis")),
    Effect.timeoutFail({ duration: Duration.seconds(5), onTimeout: () => new Error("stats never settled") })
  )

// runs whose client left end at once here: the cancel test counts the active runs
const slow = coreLayer({ streamTokens: true }).pipe(
  Layer.provideMerge(emulatorLayer({ tokenDelay: Duration.millis(20), windDown: Duration.zero }))
)

layer(slow, { excludeTestServices: true })("streams the client closes", (it) => {
  it.effect("a client that stops reading is counted once, and no stream stays active", () =>
    Effect.gen(function*() {
      const before = yield* stats
      const client = yield* LettaClient.LettaClient
      const agent = yield* demoAgentId
      const head = yield* Stream.runCollect(Stream.take(client.streamMessage(agent, { ...turn("a long answer"), stream_tokens: true }), 3))
      assert.strictEqual(Chunk.size(head), 3)
      const after = yield* statsUntil((s) => s.active_streams === 0 && s.client_closed_streams > before.client_closed_streams)
      assert.strictEqual(after.client_closed_streams, before.client_closed_streams + 1)
      assert.strictEqual(after.completed_streams, before.completed_streams)
      assert.strictEqual(after.total_streams, before.total_streams + 1)
    }))

  it.effect("each stream is recorded with its message and when it opened and closed", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const emulator = yield* Emulator.Emulator
      const stopped = Date.now()
      yield* Stream.runDrain(Stream.take(client.streamMessage(emulator.demoAgent.id, { ...turn("record me"), stream_tokens: true }), 2))
      yield* statsUntil((s) => s.active_streams === 0)
      const record = (yield* emulator.stats.streams).findLast((stream) => stream.message === "record me")
      assert.strictEqual(record?.end, "client_closed")
      assert.isAtLeast(record?.openedAt ?? 0, stopped)
      assert.isAtLeast(record?.closedAt ?? 0, record?.openedAt ?? Infinity)
    }))

  it.effect("a stream read to its end is completed, not closed by the client", () =>
    Effect.gen(function*() {
      const before = yield* stats
      const client = yield* LettaClient.LettaClient
      yield* Stream.runDrain(client.streamMessage(yield* demoAgentId, turn("short")))
      const after = yield* statsUntil((s) => s.completed_streams > before.completed_streams)
      assert.strictEqual(after.client_closed_streams, before.client_closed_streams)
      assert.strictEqual(after.active_streams, 0)
    }))

  it.effect("cancel: the running turn ends with Letta's cancelled stop reason and the run is cancelled", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const agent = yield* demoAgentId
      const fiber = yield* Effect.fork(Stream.runCollect(client.streamMessage(agent, { ...turn("cancel me please"), stream_tokens: true })))
      yield* statsUntil((s) => s.active_streams === 1)
      const cancelled = fields(json(yield* request("POST", `/v1/agents/${agent}/messages/cancel`, { body: {} })))
      const [runId, ...others] = Object.keys(cancelled)
      assert.deepStrictEqual(others, [], "only the running turn is active")
      assert.strictEqual(cancelled[runId ?? ""], "cancelled")
      const messages = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      const last = messages.at(-1)
      assert.strictEqual(last?.message_type === "stop_reason" && last.stop_reason, "cancelled")
      const run = fields(json(yield* request("GET", `/v1/runs/${runId}`)))
      assert.strictEqual(run.status, "cancelled")
    }))
})

layer(emulatorLayer({ stepDelay: Duration.millis(300), keepalive: Duration.millis(50) }), { excludeTestServices: true })(
  "keepalive",
  (it) => {
    it.effect("pings keep a quiet stream alive", () =>
      Effect.gen(function*() {
        const agent = yield* demoAgentId
        const answer = yield* request("POST", `/v1/agents/${agent}/messages/stream`, { body: turn("think slowly") })
        const types = payloads(answer.text).map((m) => m.message_type)
        const firstReasoning = types.indexOf("reasoning_message")
        assert.isAtLeast(types.slice(0, firstReasoning).filter((t) => t === "ping").length, 3)
        assert.strictEqual(frames(answer.text).at(-1), "data: [DONE]")
      }))
  }
)

const secured = coreLayer({ password: Option.some(Redacted.make("s3cret")) }).pipe(
  Layer.provideMerge(emulatorLayer({ password: Option.some(Redacted.make("s3cret")) }))
)

layer(secured, { excludeTestServices: true })("--secure", (it) => {
  it.effect("without credentials: 401 {detail: Unauthorized}; bearer and X-BARE-PASSWORD pass; health stays open", () =>
    Effect.gen(function*() {
      const refused = yield* request("GET", "/v1/agents/")
      assert.strictEqual(refused.status, 401)
      assert.deepStrictEqual(json(refused), { detail: "Unauthorized" })
      assert.strictEqual((yield* request("GET", "/v1/agents/", { headers: { authorization: "Bearer wrong" } })).status, 401)
      assert.strictEqual((yield* request("GET", "/v1/agents/", { headers: { authorization: "Bearer s3cret" } })).status, 200)
      assert.strictEqual((yield* request("GET", "/v1/agents/", { headers: { "x-bare-password": "password s3cret" } })).status, 200)
      assert.strictEqual((yield* request("GET", "/v1/health/")).status, 200)
    }))

  it.effect("core's client authenticates with LETTA_PASSWORD", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const agents = yield* client.listAgents()
      assert.isAbove(agents.length, 0)
    }))
})

// its own emulator: an armed fault is taken by whichever request comes next
layer(emulatorLayer({ password: Option.some(Redacted.make("s3cret")) }), { excludeTestServices: true })(
  "--secure with faults",
  (it) => {
    it.effect("an armed fault is taken before the password check, the request's fault after it; the faults route takes none", () =>
      Effect.gen(function*() {
        const auth = { authorization: "Bearer s3cret" }
        const arm = (fault: string, headers: Record<string, string> = auth) =>
          request("POST", "/_emulator/faults", { body: { fault }, headers })
        assert.strictEqual((yield* arm("status:503", {})).status, 401)
        assert.strictEqual((yield* arm("status:502")).status, 200)
        // health is open, but not for an armed fault: it meets the password first
        assert.strictEqual((yield* request("GET", "/v1/health/")).status, 401)
        assert.strictEqual((yield* request("GET", "/v1/health/")).status, 200)
        assert.strictEqual((yield* arm("status:502")).status, 200)
        assert.strictEqual((yield* request("GET", "/v1/agents/", { headers: auth })).status, 502)
        const header = { "x-emulator-fault": "status:418" }
        assert.strictEqual((yield* request("GET", "/v1/agents/", { headers: header })).status, 401)
        assert.strictEqual((yield* request("GET", "/v1/agents/", { headers: { ...auth, ...header } })).status, 418)
        assert.strictEqual((yield* request("GET", "/v1/health/", { headers: header })).status, 200)
        const stats = fields(json(yield* request("GET", "/_emulator/stats")))
        assert.deepStrictEqual(fields(stats.requests_by_route), {
          "POST /_emulator/faults": 3,
          "GET /v1/health/": 3,
          "GET /v1/agents/": 3,
          "GET /_emulator/stats": 1
        })
      }))
  }
)

const windingDown = coreLayer({ streamTokens: true, busyWait: Duration.seconds(5) }).pipe(
  Layer.provideMerge(emulatorLayer({ tokenDelay: Duration.millis(20), windDown: Duration.millis(400) }))
)

layer(windingDown, { excludeTestServices: true })("a stopped run winds down, as Letta's does", (it) => {
  it.effect("its conversation answers 409 with the run until it has ended; core's client waits and sends again", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const emulator = yield* Emulator.Emulator
      const agent = emulator.demoAgent.id
      const conversation = yield* emulator.store.createConversation(agent)
      const body = (text: string) => ({ agent_id: agent, messages: [{ role: "user" as const, content: text }], stream_tokens: true })
      // stopped after a few frames, as a user pressing Stop
      yield* Stream.runDrain(Stream.take(client.streamConversation(conversation.id, body("first, stopped")), 3))
      yield* statsUntil((s) => s.active_streams === 0)
      const refused = yield* request("POST", `/v1/conversations/${conversation.id}/messages`, { body: body("too soon") })
      assert.strictEqual(refused.status, 409)
      const stopped = fields(json(refused)).run_id
      assert.match(String(stopped), /^run-/)
      // the same message through core's client: it waits for the wind-down, then the turn goes through
      const started = Date.now()
      const turn = yield* ChatStream.collect(ChatStream.toEvents(client.streamConversation(conversation.id, body("second"))))
      assert.include(turn.content, "You said: \"second\"")
      assert.isBelow(Date.now() - started, 5_000)
      assert.strictEqual(fields(json(yield* request("GET", `/v1/runs/${String(stopped)}`))).status, "cancelled")
      // nothing of the refused message reached the thread
      const history = yield* emulator.store.thread(`conv:${conversation.id}`)
      assert.isFalse(Chunk.toReadonlyArray(history).some((m) => m.message_type === "user_message" && m.content === "too soon"))
    }))
})

const integration = coreLayer({ streamTokens: true }).pipe(Layer.provideMerge(emulatorLayer()))

layer(integration, { excludeTestServices: true })("core against the emulator", (it) => {
  const pipe = (text: string, extra: Partial<Parameters<Pipeline.Service["pipe"]>[0]> = {}) =>
    Effect.gen(function*() {
      const pipeline = yield* Pipeline.Pipeline
      const agent = yield* demoAgentId
      return yield* ChatStream.collect(pipeline.pipe({ model: agent, messages: [{ role: "user", content: text }], body: {}, ...extra }))
    })

  it.effect("a token-mode turn assembles to the emulator's answer, with reasoning, usage and run id", () =>
    Effect.gen(function*() {
      const result = yield* pipe("Hello from core")
      assert.include(result.content, "You said: \"Hello from core\"")
      assert.include(result.reasoning, "The user said \"Hello from core\"")
      assert.strictEqual(result.stopReason, "end_turn")
      assert.match(result.runId ?? "", /^run-/)
      assert.isTrue(Option.isSome(result.usage))
    }))

  it.effect("a tool turn yields the call with its joined arguments and the result", () =>
    Effect.gen(function*() {
      const result = yield* pipe("search for lisbon weather")
      assert.strictEqual(result.toolCalls[0]?.name, "web_search")
      assert.deepStrictEqual(JSON.parse(result.toolCalls[0]?.arguments ?? ""), { query: "lisbon weather" })
      assert.strictEqual(result.toolResults[0]?.status, "success")
      assert.strictEqual(result.toolResults[0]?.id, result.toolCalls[0]?.id)
      assert.include(result.content, "I searched for \"lisbon weather\"")
    }))

  it.effect("a conversation created through core keeps its own memory", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const conversation = yield* client.createConversation(yield* demoAgentId)
      yield* pipe("remember the word teal", { conversationId: conversation.id })
      const second = yield* pipe("what did I say?", { conversationId: conversation.id })
      assert.include(second.content, "Before that you said: \"remember the word teal\"")
    }))

  it.effect("listAgents follows pages past Letta's 50 per page", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      for (let i = 0; i < 55; i++) yield* request("POST", "/v1/agents/", { body: { name: `bulk-${i}`, tags: ["bulk"] } })
      const bulk = yield* client.listAgents({ tags: ["bulk"] })
      assert.strictEqual(bulk.length, 55)
      assert.strictEqual(new Set(bulk.map((a) => a.id)).size, 55)
      const health = yield* client.health
      assert.strictEqual(health.status, "ok")
    }))
})

const polling = coreLayer({ mode: "poll", pollInterval: Duration.millis(20) }).pipe(
  Layer.provideMerge(emulatorLayer({ tokenDelay: Duration.millis(5) }))
)

layer(polling, { excludeTestServices: true })("poll mode against the emulator", (it) => {
  it.effect("an async run followed by polling gives the same answer as streaming", () =>
    Effect.gen(function*() {
      const pipeline = yield* Pipeline.Pipeline
      const agent = yield* demoAgentId
      const result = yield* ChatStream.collect(pipeline.pipe({ model: agent, messages: [{ role: "user", content: "poll me" }], body: {} }))
      assert.include(result.content, "You said: \"poll me\"")
      assert.strictEqual(result.stopReason, "end_turn")
    }))
})
