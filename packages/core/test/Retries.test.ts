/**
 * Idempotent reads retry transient failures with backoff (on the TestClock); turns and other writes never retry.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Option, Stream, TestClock } from "effect"
import { LettaClient, LettaRuns } from "../src/index.js"
import * as Letta from "./utils/letta.js"
import * as Mock from "./utils/MockHttpClient.js"

const status = (code: number) =>
  new Response(JSON.stringify({ detail: `status ${code}` }), { status: code, headers: { "content-type": "application/json" } })
const health = () => Mock.json({ version: "0.16.8", status: "ok" })

/** Answers with `failures` in order, then `success` for ever. */
const sequence = (failures: ReadonlyArray<Mock.Responder>, success: () => Response): Mock.Responder => {
  let calls = 0
  return (request) => {
    const next = failures[calls] ?? success
    calls += 1
    return next(request)
  }
}

/** Runs `effect` while moving the TestClock in 50 ms steps, so that every backoff sleep passes. */
const withClock = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    while (Option.isNone(yield* Fiber.poll(fiber))) {
      yield* TestClock.adjust(Duration.millis(50))
      yield* Effect.yieldNow()
    }
    return yield* Fiber.join(fiber)
  })

/** The TestClock time of every request. */
const times: Array<number> = []
const timed = (respond: Mock.Responder): Mock.Responder => (request) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    times.push(now)
    const answer = respond(request)
    return answer === Mock.connectionRefused ? Effect.die("unused") : Effect.isEffect(answer) ? answer : Effect.succeed(answer)
  })

describe("LettaClient retries", () => {
  it.effect("a read retries 503 and 429 after about 0.5 s and then 1 s (jittered), then succeeds", () =>
    Effect.gen(function*() {
      times.length = 0
      const client = yield* LettaClient.LettaClient
      const result = yield* withClock(client.health)
      assert.strictEqual(result.version, "0.16.8")
      assert.strictEqual(times.length, 3)
      const [first = 0, second = 0, third = 0] = times
      assert.isTrue(second - first >= 400 && second - first <= 650, `first delay ${second - first} ms`)
      assert.isTrue(third - second >= 800 && third - second <= 1250, `second delay ${third - second} ms`)
    }).pipe(Effect.provide(Mock.clientLayer(timed(sequence([() => status(503), () => status(429)], health))))))

  it.effect("gives up after LETTA_RETRIES retries with the last error", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const error = yield* withClock(Effect.flip(client.getAgent(Letta.agentId)))
      assert.strictEqual(error._tag === "LettaError" ? error.status : undefined, 502)
      assert.strictEqual((yield* Mock.recorded).length, 4)
    }).pipe(Effect.provide(Mock.clientLayer(() => status(502), { retries: 3 }))))

  it.effect("a refused connection is retried", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const agents = yield* withClock(client.listAgents())
      assert.deepStrictEqual(agents.map((agent) => agent.id), [Letta.agentId])
      assert.strictEqual((yield* Mock.recorded).length, 2)
    }).pipe(Effect.provide(Mock.clientLayer(sequence([() => Mock.connectionRefused], () => Mock.json([Letta.agent(Letta.agentId, "milo")]))))))

  it.effect("errors that would fail again are not retried: 400, 401, 404, 422", () =>
    Effect.forEach([400, 401, 404, 422], (code) =>
      Effect.gen(function*() {
        const client = yield* LettaClient.LettaClient
        const error = yield* Effect.flip(client.getAgent(Letta.agentId))
        assert.strictEqual(error._tag === "LettaError" ? error.status : undefined, code)
        assert.strictEqual((yield* Mock.recorded).length, 1)
      }).pipe(Effect.provide(Mock.clientLayer(() => status(code))))))

  it.effect("a body that does not decode is not retried", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const error = yield* Effect.flip(client.listAgents())
      assert.strictEqual(error._tag, "DecodeError")
      assert.strictEqual((yield* Mock.recorded).length, 1)
    }).pipe(Effect.provide(Mock.clientLayer(() => Mock.json([{ id: 1 }])))))

  it.effect("writes and turns are sent once, whatever the failure: no duplicate user message", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const runs = yield* LettaRuns.LettaRuns
      const turn = { messages: [{ role: "user" as const, content: "Hello" }] }
      const failures = yield* Effect.all([
        Effect.flip(Stream.runDrain(client.streamMessage(Letta.agentId, { ...turn, stream_tokens: true }))),
        Effect.flip(Stream.runDrain(client.streamConversation(Letta.conversationId, { ...turn, agent_id: Letta.agentId }))),
        Effect.flip(client.sendMessage(Letta.agentId, turn)),
        Effect.flip(client.sendConversation(Letta.conversationId, { ...turn, agent_id: Letta.agentId })),
        Effect.flip(runs.createRun(Letta.agentId, turn)),
        Effect.flip(client.createConversation(Letta.agentId)),
        Effect.flip(runs.cancelRuns(Letta.agentId))
      ])
      assert.isTrue(failures.every((error) => error._tag === "LettaError" && error.status === 503))
      const requests = yield* Mock.recorded
      assert.strictEqual(requests.length, failures.length)
      assert.isTrue(requests.every((request) => request.method === "POST"))
    }).pipe(Effect.provide(Mock.clientLayer(() => status(503)))))
})
