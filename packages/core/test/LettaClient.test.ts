import { assert, describe, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Fiber, Option, Redacted, Schedule, Stream, TestClock, Tracer } from "effect"
import { LettaClient, LettaError, LettaRuns } from "../src/index.js"
import * as Letta from "./utils/letta.js"
import * as Mock from "./utils/MockHttpClient.js"

const turn = { messages: [{ role: "user" as const, content: "Hello" }], stream_tokens: true }
const okStream = () => Mock.sse([Mock.frames(Letta.ping, Letta.assistant("Hi"), Letta.stopReason(), "[DONE]")])

describe("LettaClient requests", () => {
  it.effect("streams a turn: POST …/messages/stream with content, token streaming and SSE accept", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const messages = yield* Stream.runCollect(client.streamMessage(Letta.agentId, { ...turn, include_pings: true }))
      assert.strictEqual(Chunk.size(messages), 3)
      const [request] = yield* Mock.recorded
      assert.strictEqual(request?.method, "POST")
      assert.strictEqual(request?.url, `/v1/agents/${Letta.agentId}/messages/stream`)
      assert.deepStrictEqual(JSON.parse(request?.body ?? ""), {
        messages: [{ role: "user", content: "Hello" }],
        stream_tokens: true,
        include_pings: true
      })
      assert.strictEqual(request?.headers.accept, "text/event-stream")
      assert.strictEqual(request?.headers["content-type"], "application/json")
      // a User-Agent would make Letta treat us as a legacy SDK
      assert.isUndefined(request?.headers["user-agent"])
    }).pipe(Effect.provide(Mock.clientLayer(okStream))))

  it.effect("sends the bearer token and the X-BARE-PASSWORD header when configured", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      yield* client.health
      const [request] = yield* Mock.recorded
      assert.strictEqual(request?.url, "/v1/health/")
      assert.strictEqual(request?.headers.authorization, "Bearer sk-let-secret")
      assert.strictEqual(request?.headers["x-bare-password"], "password hunter2")
    }).pipe(Effect.provide(Mock.clientLayer(() => Mock.json({ version: "0.16.8", status: "ok" }), {
      apiKey: Option.some(Redacted.make("sk-let-secret")),
      password: Option.some(Redacted.make("hunter2"))
    }))))

  it.effect("redacts X-BARE-PASSWORD in the client span's header attributes when traced", () =>
    Effect.gen(function*() {
      const spans: Array<Tracer.Span> = []
      const native = yield* Effect.tracer
      const tracer = Tracer.make({
        span: (name, parent, context, links, startTime, kind) => {
          const span = native.span(name, parent, context, links, startTime, kind)
          spans.push(span)
          return span
        },
        context: (f) => f()
      })
      const client = yield* LettaClient.LettaClient
      yield* Effect.withTracer(client.health, tracer)
      const attributes = spans.flatMap((span) => [...span.attributes])
      const password = attributes.find(([name]) => name === "http.request.header.x-bare-password")
      assert.isDefined(password, "the client span carries the request's headers")
      assert.strictEqual(password?.[1], String(Redacted.make("hunter2")))
      assert.notInclude(JSON.stringify(attributes.map(([name, value]) => [name, String(value)])), "hunter2")
    }).pipe(Effect.provide(Mock.clientLayer(() => Mock.json({ version: "0.16.8", status: "ok" }), {
      password: Option.some(Redacted.make("hunter2"))
    }))))

  it.effect("sends no auth headers when none is configured", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const health = yield* client.health
      assert.deepStrictEqual(health, { version: "0.16.8", status: "ok" })
      const [request] = yield* Mock.recorded
      assert.isUndefined(request?.headers.authorization)
      assert.isUndefined(request?.headers["x-bare-password"])
    }).pipe(Effect.provide(Mock.clientLayer(() => Mock.json({ version: "0.16.8", status: "ok" })))))

  it.effect("sends a turn without streaming and decodes the LettaResponse", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const response = yield* client.sendMessage(Letta.agentId, { messages: turn.messages })
      assert.strictEqual(response.messages.length, 2)
      assert.strictEqual(response.stop_reason.stop_reason, "end_turn")
      assert.strictEqual(response.usage.total_tokens, 2352)
      const [request] = yield* Mock.recorded
      assert.strictEqual(request?.url, `/v1/agents/${Letta.agentId}/messages`)
      assert.deepStrictEqual(JSON.parse(request?.body ?? ""), { messages: [{ role: "user", content: "Hello" }] })
    }).pipe(Effect.provide(Mock.clientLayer(() =>
      Mock.json({
        messages: [Letta.reasoning("r"), Letta.assistant("Hi")],
        stop_reason: Letta.stopReason(),
        usage: Letta.usage,
        logprobs: null,
        turns: null
      })
    ))))

  it.effect("lists every page of agents, following the last id", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const agents = yield* client.listAgents({ tags: ["a", "b"] })
      assert.strictEqual(agents.length, 120)
      assert.strictEqual(agents[119]?.name, "agent 119")
      const urls = (yield* Mock.recorded).map((r) => r.url)
      assert.strictEqual(urls.length, 3)
      assert.strictEqual(urls[0], "/v1/agents/?limit=50&tags=a&tags=b")
      assert.include(urls[1], `after=${agentIds[49]}`)
      assert.include(urls[2], `after=${agentIds[99]}`)
    }).pipe(Effect.provide(Mock.clientLayer((request) => {
      const after = new URL(request.url, Mock.baseUrl).searchParams.get("after")
      const start = after === null ? 0 : agentIds.indexOf(after) + 1
      return Mock.json(agentIds.slice(start, start + 50).map((id, i) => Letta.agent(id, `agent ${start + i}`)))
    }))))

  it.effect("gets an agent, lists its messages and creates a conversation", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const agent = yield* client.getAgent(Letta.agentId)
      assert.strictEqual(agent.name, "demo")
      const history = yield* client.listMessages(Letta.agentId, { limit: 10, order: "asc" })
      assert.strictEqual(history[0]?.message_type, "assistant_message")
      const conversation = yield* client.createConversation(Letta.agentId)
      assert.strictEqual(conversation.id, Letta.conversationId)
      const urls = (yield* Mock.recorded).map((r) => `${r.method} ${r.url}`)
      assert.deepStrictEqual(urls, [
        `GET /v1/agents/${Letta.agentId}`,
        `GET /v1/agents/${Letta.agentId}/messages?limit=10&order=asc`,
        `POST /v1/conversations/?agent_id=${Letta.agentId}`
      ])
    }).pipe(Effect.provide(Mock.clientLayer((request) => {
      if (request.url.startsWith("/v1/conversations")) {
        return Mock.json({ id: Letta.conversationId, agent_id: Letta.agentId, summary: null })
      }
      if (request.url.includes("/messages")) return Mock.json([Letta.assistant("old answer")])
      return Mock.json(Letta.agent(Letta.agentId, "demo"))
    }))))

  it.effect("streams a turn into a conversation with streaming forced on", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      yield* Stream.runDrain(client.streamConversation("default", { ...turn, agent_id: Letta.agentId }))
      const [request] = yield* Mock.recorded
      assert.strictEqual(request?.url, "/v1/conversations/default/messages")
      assert.deepStrictEqual(JSON.parse(request?.body ?? "").streaming, true)
      assert.deepStrictEqual(JSON.parse(request?.body ?? "").agent_id, Letta.agentId)
    }).pipe(Effect.provide(Mock.clientLayer(okStream))))

  it.effect("starts a background run and reads it back", () =>
    Effect.gen(function*() {
      const runs = yield* LettaRuns.LettaRuns
      const run = yield* runs.createRun(Letta.agentId, { messages: turn.messages })
      const again = yield* runs.getRun(run.id)
      const messages = yield* runs.listRunMessages(run.id, { after: "message-1" })
      assert.strictEqual(again.status, "running")
      assert.strictEqual(messages.length, 1)
      const urls = (yield* Mock.recorded).map((r) => `${r.method} ${r.url}`)
      assert.deepStrictEqual(urls, [
        `POST /v1/agents/${Letta.agentId}/messages/async`,
        `GET /v1/runs/${Letta.runId}`,
        `GET /v1/runs/${Letta.runId}/messages?order=asc&after=message-1`
      ])
    }).pipe(Effect.provide(Mock.clientLayer((request) =>
      request.url.includes("/messages?")
        ? Mock.json([Letta.assistant("x")])
        : Mock.json({ id: Letta.runId, status: request.method === "POST" ? "created" : "running", agent_id: Letta.agentId })
    ))))
})

const agentIds = Array.from({ length: 120 }, (_, i) => `agent-${i.toString(16).padStart(8, "0")}-4b5a-4c7d-8e9f-0a1b2c3d4e5f`)

describe("LettaClient ids", () => {
  const tricky = ["../../v1/health", "agent-x/../../etc", "%2e%2e", `${Letta.agentId}?x=1`, `${Letta.agentId}#a`]
  it.effect("rejects invalid agent, conversation and run ids before any request", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      for (const id of tricky) {
        const error = yield* Effect.flip(client.getAgent(id))
        assert.strictEqual(error._tag === "LettaError" && error.reason, "InvalidId")
        assert.include(error.message, "agent-<uuid4>")
        const streamed = yield* Effect.flip(Stream.runDrain(client.streamMessage(id, turn)))
        assert.strictEqual(streamed._tag === "LettaError" && streamed.reason, "InvalidId")
      }
      const conversation = yield* Effect.flip(Stream.runDrain(client.streamConversation("conv-../x", turn)))
      assert.strictEqual(conversation._tag === "LettaError" && conversation.reason, "InvalidId")
      const run = yield* Effect.flip((yield* LettaRuns.LettaRuns).getRun("run-1/../../agents"))
      assert.strictEqual(run._tag === "LettaError" && run.reason, "InvalidId")
      assert.deepStrictEqual(yield* Mock.recorded, [])
    }).pipe(Effect.provide(Mock.clientLayer(okStream))))
})

describe("LettaClient errors", () => {
  const failing = (status: number, body: string, contentType = "application/json") =>
    Mock.clientLayer(() => new Response(body, { status, headers: { "content-type": contentType } }))

  it.effect("404 with Letta's detail names the agent", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const error = yield* Effect.flip(client.getAgent(Letta.agentId))
      assert.strictEqual(error._tag, "LettaError")
      if (error._tag !== "LettaError") return
      assert.strictEqual(error.reason, "NotFound")
      assert.strictEqual(error.status, 404)
      assert.strictEqual(error.detail, `Agent with ID ${Letta.agentId} not found`)
      assert.include(error.message, `GET ${Mock.baseUrl}/v1/agents/${Letta.agentId}`)
    }).pipe(Effect.provide(failing(404, JSON.stringify({ detail: `Agent with ID ${Letta.agentId} not found` })))))

  it.effect("404 on a turn in a conversation says the conversation is gone; on the agent's own thread it does not", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const body = { agent_id: Letta.agentId, messages: [{ role: "user" as const, content: "hi" }] }
      const gone = yield* Effect.flip(Stream.runDrain(client.streamConversation(Letta.conversationId, body)))
      assert.isTrue(LettaError.isConversationGone(gone, Letta.conversationId))
      assert.include(gone.message, `conversation ${Letta.conversationId}`)
      assert.include(gone.message, "no longer exists in Letta")
      assert.notInclude(gone.message, "check the agent id")
      const blocking = yield* Effect.flip(client.sendConversation(Letta.conversationId, body))
      assert.isTrue(LettaError.isConversationGone(blocking, Letta.conversationId))
      const ownThread = yield* Effect.flip(Stream.runDrain(client.streamConversation("default", body)))
      assert.isFalse(LettaError.isConversationGone(ownThread, "default"))
      assert.include(ownThread.message, "check the agent id")
    }).pipe(Effect.provide(failing(404, JSON.stringify({ detail: `Conversation with ID ${Letta.conversationId} not found` })))))

  it.effect("401 says which setting to fix", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const error = yield* Effect.flip(Stream.runDrain(client.streamMessage(Letta.agentId, turn)))
      assert.strictEqual(error._tag === "LettaError" && error.reason, "Unauthorized")
      assert.include(error.message, "LETTA_API_KEY")
    }).pipe(Effect.provide(failing(401, "{\"detail\":\"Unauthorized\"}"))))

  it.effect("422 with the string detail of Letta's validation handler", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const error = yield* Effect.flip(client.sendMessage(Letta.agentId, { messages: [] }))
      assert.strictEqual(error._tag === "LettaError" && error.reason, "Rejected")
      assert.include(error.message, "Messages must not be empty")
    }).pipe(Effect.provide(failing(422, "{\"trace_id\":\"\",\"detail\":\"Messages must not be empty\"}"))))

  it.effect("the provider error family {error:{type,message,detail}}", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const error = yield* Effect.flip(client.sendMessage(Letta.agentId, { messages: turn.messages }))
      assert.strictEqual(error._tag, "LettaError")
      if (error._tag !== "LettaError") return
      assert.strictEqual(error.reason, "RateLimited")
      assert.strictEqual(error.errorType, "llm_rate_limit")
      assert.strictEqual(error.detail, "Rate limit exceeded: slow down")
    }).pipe(Effect.provide(failing(
      429,
      JSON.stringify({ error: { type: "llm_rate_limit", message: "Rate limit exceeded", detail: "slow down" } })
    ))))

  it.effect("409 with an object detail (pending approval)", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const error = yield* Effect.flip(Stream.runDrain(client.streamMessage(Letta.agentId, turn)))
      assert.strictEqual(error._tag === "LettaError" && error.reason, "Conflict")
      assert.include(error.message, "approval pending")
    }).pipe(Effect.provide(failing(
      409,
      JSON.stringify({ detail: { code: "PENDING_APPROVAL", message: "approval pending", pending_request_id: "x" } })
    ))))

  describe("a conversation still busy with a stopped run (409)", () => {
    const busy = { detail: `Cannot process a new message: conversation ${Letta.conversationId} is busy`, run_id: Letta.runId }
    /** 409 busy for the first `refusals` turns, then a stream. */
    const busyThen = (refusals: number) => {
      let sent = 0
      return () => (sent++ < refusals ? Mock.json(busy, 409) : okStream())
    }
    const body = { agent_id: Letta.agentId, messages: [{ role: "user" as const, content: "again" }] }

    it.effect("the turn is sent again, with growing pauses, until Letta takes it", () =>
      Effect.gen(function*() {
        const client = yield* LettaClient.LettaClient
        const fiber = yield* Effect.fork(Stream.runCollect(client.streamConversation(Letta.conversationId, body)))
        yield* TestClock.adjust(Duration.seconds(2))
        const messages = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
        assert.include(messages.map((m) => m.message_type), "assistant_message")
        assert.strictEqual((yield* Mock.recorded).length, 4)
      }).pipe(Effect.provide(Mock.clientLayer(busyThen(3)))))

    it.effect("past LETTA_BUSY_WAIT the 409 reaches the caller, naming the run that holds the conversation", () =>
      Effect.gen(function*() {
        const client = yield* LettaClient.LettaClient
        const fiber = yield* Effect.fork(Effect.flip(Stream.runDrain(client.streamConversation(Letta.conversationId, body))))
        yield* TestClock.adjust(Duration.seconds(10))
        const error = yield* Fiber.join(fiber)
        assert.isTrue(error._tag === "LettaError" && error.reason === "Conflict" && error.runId === Letta.runId)
        const attempts = (yield* Mock.recorded).length
        assert.isAtLeast(attempts, 3)
        assert.isAtMost(attempts, 8)
      }).pipe(Effect.provide(Mock.clientLayer(busyThen(1000), { busyWait: Duration.seconds(3) }))))

    it.effect("a pending approval (409) is not waited for: waiting does not resolve it", () =>
      Effect.gen(function*() {
        const client = yield* LettaClient.LettaClient
        const error = yield* Effect.flip(Stream.runDrain(client.streamConversation(Letta.conversationId, body)))
        assert.isTrue(error._tag === "LettaError" && error.errorType === "PENDING_APPROVAL")
        assert.strictEqual((yield* Mock.recorded).length, 1)
      }).pipe(Effect.provide(Mock.clientLayer(() =>
        Mock.json({ detail: { code: "PENDING_APPROVAL", message: "approval pending", pending_request_id: "x" } }, 409)
      ))))
  })

  it.effect("a proxy's HTML 502 is an HttpError with the status", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const error = yield* Effect.flip(client.health)
      assert.strictEqual(error._tag, "HttpError")
      if (error._tag !== "HttpError") return
      assert.strictEqual(error.reason, "StatusCode")
      assert.strictEqual(error.status, 502)
      assert.include(error.message, "Bad Gateway")
    }).pipe(Effect.provide(Mock.clientLayer(
      () => new Response("<html><body>502 Bad Gateway</body></html>", { status: 502, headers: { "content-type": "text/html" } }),
      { retries: 0 }
    ))))

  it.effect("a JSON body of the wrong shape is a DecodeError naming what was decoded", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const error = yield* Effect.flip(client.listAgents())
      assert.strictEqual(error._tag === "DecodeError" && error.reason, "Schema")
      assert.include(error.message, "agent list")
    }).pipe(Effect.provide(Mock.clientLayer(() => Mock.json([{ id: 1 }])))))
})

describe("LettaClient timeouts", () => {
  const timeouts = { connect: Duration.seconds(5), firstEvent: Duration.seconds(20), idle: Duration.seconds(30), turn: Duration.seconds(300) }

  it.effect("connect: no response headers in time", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const fiber = yield* Effect.fork(Effect.flip(Stream.runDrain(client.streamMessage(Letta.agentId, turn))))
      yield* TestClock.adjust(Duration.seconds(6))
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag === "HttpError" && error.phase, "connect")
    }).pipe(Effect.provide(Mock.clientLayer(() => Effect.never, { timeouts }))))

  /** Headers after `headersAfter`, then silence: the first-event timeout still comes 20 s after the request. */
  const firstEventTimeout = (headersAfter: Duration.Duration) =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const fiber = yield* Effect.fork(Effect.flip(Stream.runDrain(client.streamMessage(Letta.agentId, turn))))
      yield* TestClock.adjust(Duration.seconds(19))
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust(Duration.seconds(2))
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag === "HttpError" && error.reason, "Timeout")
      assert.strictEqual(error._tag === "HttpError" && error.phase, "first-event")
    }).pipe(Effect.provide(Mock.clientLayer(() => Effect.delay(Effect.sync(() => Mock.sseThenSilence([])), headersAfter), {
      timeouts
    })))

  it.effect("first event: headers but no frame in time", () => firstEventTimeout(Duration.zero))

  it.effect("first event counts from the request: headers that took 4 s leave 16 s for the first frame, not 20", () =>
    firstEventTimeout(Duration.seconds(4)))

  it.effect("idle shorter than first-event: silence after the first frame fails after idle, not after first-event", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const fiber = yield* Effect.fork(Effect.flip(Stream.runDrain(client.streamMessage(Letta.agentId, turn))))
      yield* TestClock.adjust(Duration.millis(900))
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust(Duration.millis(200))
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag === "HttpError" && error.phase, "idle")
    }).pipe(Effect.provide(Mock.clientLayer(() => Mock.sseThenSilence([Mock.frames(Letta.ping)]), {
      timeouts: { connect: Duration.seconds(5), firstEvent: Duration.seconds(60), idle: Duration.seconds(1), turn: Duration.seconds(300) }
    }))))

  it.effect("idle: silence after a frame; the message says what timed out", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const fiber = yield* Effect.fork(
        Stream.runCollect(Stream.either(client.streamMessage(Letta.agentId, turn)))
      )
      yield* TestClock.adjust(Duration.seconds(31))
      const items = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.strictEqual(items.length, 2)
      const last = items[1]
      assert.isTrue(last?._tag === "Left" && last.left._tag === "HttpError" && last.left.phase === "idle")
      if (last?._tag === "Left") assert.include(last.left.message, "idle timeout")
    }).pipe(Effect.provide(Mock.clientLayer(() => Mock.sseThenSilence([Mock.frames(Letta.ping)]), { timeouts }))))

  /** An SSE body produced by an Effect stream on the test's clock. */
  const timedSse = (frames: Stream.Stream<string>) =>
    Effect.map(
      Stream.toReadableStreamEffect(Stream.map(frames, (frame) => new TextEncoder().encode(frame))),
      (body) => new Response(body, { headers: { "content-type": "text/event-stream" } })
    )
  const pingEvery20s = Stream.repeatValue(Mock.frames(Letta.ping)).pipe(Stream.schedule(Schedule.spaced("20 seconds")))
  // the first ping comes at 20 s: a first-event limit of exactly 20 s would make it a tie with the watchdog's check
  const pingTimeouts = { ...timeouts, firstEvent: Duration.seconds(25) }

  it.effect("pings count as activity: a quiet agent that pings never hits the idle timeout", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const fiber = yield* Effect.fork(Stream.runCollect(client.streamMessage(Letta.agentId, turn)))
      for (let i = 0; i < 6; i++) yield* TestClock.adjust(Duration.seconds(20))
      const messages = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.strictEqual(messages.length, 6)
      assert.strictEqual(messages.at(-1)?.message_type, "stop_reason")
    }).pipe(Effect.provide(Mock.clientLayer(() =>
      timedSse(Stream.concat(Stream.take(pingEvery20s, 5), Stream.make(Mock.frames(Letta.stopReason(), "[DONE]"))))
    , { timeouts: pingTimeouts }))))

  it.effect("one client's streams are watched together: a silent one times out, a busy one beside it does not", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const silent = yield* Effect.fork(Effect.flip(Stream.runDrain(client.streamMessage(Letta.agentId, turn))))
      const busy = yield* Effect.fork(Stream.runCollect(client.streamMessage(Letta.agentId, turn)))
      for (let i = 0; i < 6; i++) yield* TestClock.adjust(Duration.seconds(20))
      const error = yield* Fiber.join(silent)
      assert.strictEqual(error._tag === "HttpError" && error.phase, "idle")
      const messages = Chunk.toReadonlyArray(yield* Fiber.join(busy))
      assert.strictEqual(messages.at(-1)?.message_type, "stop_reason")
    }).pipe(Effect.provide(Mock.clientLayer(
      (() => {
        let calls = 0
        return () =>
          calls++ === 0
            ? Mock.sseThenSilence([Mock.frames(Letta.ping)])
            : timedSse(Stream.concat(Stream.take(pingEvery20s, 5), Stream.make(Mock.frames(Letta.stopReason(), "[DONE]"))))
      })(),
      { timeouts: pingTimeouts }
    ))))

  it.effect("turn: the whole turn is bounded even while frames keep coming", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const fiber = yield* Effect.fork(Effect.flip(Stream.runDrain(client.streamMessage(Letta.agentId, turn))))
      for (let i = 0; i < 14; i++) yield* TestClock.adjust(Duration.seconds(20))
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      for (let i = 0; i < 2; i++) yield* TestClock.adjust(Duration.seconds(20))
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag === "HttpError" && error.phase, "turn")
    }).pipe(Effect.provide(Mock.clientLayer(() => timedSse(pingEvery20s), { timeouts: pingTimeouts }))))
})

describe("a base URL that leads to no Letta API", () => {
  // what FastAPI answers for a path it has no route for, e.g. `/v1/v1/agents/…` or `/api/v1/…`
  const noRoute = () => Mock.json({ detail: "Not Found" }, 404)

  it.effect("is named as the mistake (LETTA_BASE_URL), never blamed on the agent id", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const failures = [
        yield* Effect.flip(client.health),
        yield* Effect.flip(client.getAgent(Letta.agentId)),
        yield* Effect.flip(Stream.runDrain(client.streamMessage(Letta.agentId, { messages: [{ role: "user", content: "hi" }] })))
      ]
      for (const failure of failures) {
        assert.strictEqual(failure._tag, "HttpError")
        assert.include(failure.message, "check LETTA_BASE_URL")
        assert.include(failure.message, "without /v1")
        assert.notInclude(failure.message, "agent id")
        assert.notInclude(LettaError.forUser(failure), "agent")
        assert.include(LettaError.forUser(failure), "LETTA_BASE_URL")
      }
    }).pipe(Effect.provide(Mock.clientLayer(noRoute))))
})
