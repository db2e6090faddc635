/**
 * Retries against the server as its own process: the idempotent calls (list agents, get agent, health) ride out
 * transient failures with backoff, up to `LETTA_RETRIES`; a chat turn is never retried once it may have reached Letta,
 * which the emulator's request counts and message history prove.
 */
import { NodeContext } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Emulator, Fault, Store } from "@letta-pipeline/emulator"
import { Chunk, Console, Effect, Layer, Option } from "effect"
import { call, emulatorLayer, serverProcess, withKey } from "./stack.js"

/** A request with the API key. */
const keyed = (url: string, init: { method?: string; body?: string } = {}) => call(url, { ...init, headers: withKey })

const requests = (route: string) =>
  Effect.flatMap(Emulator.Emulator, (emulator) => Effect.map(emulator.stats.snapshot, (s) => s.requests_by_route[route] ?? 0))

/** Arms `fault` for the next `count` requests to the emulator. */
const arm = (fault: string, count: number) =>
  Effect.flatMap(Emulator.Emulator, (emulator) => emulator.faults.arm(Option.getOrThrow(Fault.parse(fault)), count))

/** Runs `effect` and says how many requests `route` got meanwhile. */
const counting = <A, E, R>(route: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const before = yield* requests(route)
    const result = yield* effect
    return [result, (yield* requests(route)) - before] as const
  })

/** The user messages in the demo agent's history that carry `tag`. */
const userMessages = (tag: string) =>
  Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    const thread = yield* emulator.store.thread(Store.agentThread(emulator.demoAgent.id))
    return Chunk.toReadonlyArray(thread).filter((m) =>
      m.message_type === "user_message" && JSON.stringify(m.content).includes(tag)
    ).length
  })

const Live = Layer.mergeAll(emulatorLayer(), NodeContext.layer)

layer(Live, { excludeTestServices: true })("retries", (it) => {
  it.effect("list agents, get agent and health retry 503s and resets with backoff, up to LETTA_RETRIES", () =>
    Effect.gen(function*() {
      const listing = yield* Effect.orDie(serverProcess({ LETTA_AGENT_ID: "" }))
      const single = yield* Effect.orDie(serverProcess())
      const rows: Array<string> = []
      for (const [name, base, path, route] of [
        ["list agents", listing, "/v1/models", "GET /v1/agents/"],
        ["get agent", single, "/v1/models", "GET /v1/agents/{agent_id}"],
        ["health", single, "/ready", "GET /v1/health/"]
      ] as const) {
        for (const fault of ["status:503", "reset"]) {
          // two failures: the third attempt answers
          yield* arm(fault, 2)
          const [ok, attempts] = yield* counting(route, keyed(`${base}${path}`))
          assert.strictEqual(ok.status, 200, `${name} after 2 × ${fault}: ${ok.text}`)
          assert.strictEqual(attempts, 3, `${name}: 1 call + 2 retries`)
          rows.push(`${name} ${fault}×2: 200 after ${attempts} attempts`)
        }
        // three failures: LETTA_RETRIES (2) is spent, the error reaches the client
        yield* arm("status:503", 3)
        const [failed, attempts] = yield* counting(route, keyed(`${base}${path}`))
        assert.isAtLeast(failed.status, 500, `${name} after 3 × 503`)
        assert.strictEqual(attempts, 3)
        rows.push(`${name} status:503×3: ${failed.status} after ${attempts} attempts`)
      }
      // a non-transient status is not retried
      yield* arm("status:404", 1)
      const [missing, attempts] = yield* counting("GET /v1/agents/{agent_id}", keyed(`${single}/v1/models`))
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(attempts, 1)
      yield* Console.log(`retries: ${rows.join("; ")}; status:404: ${missing.status} after ${attempts} attempt`)
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.effect("a chat turn is never retried: 503, reset before any byte and reset mid-turn each reach Letta once", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const base = yield* Effect.orDie(serverProcess())
      const stream = `POST /v1/agents/{agent_id}/messages/stream`
      const turn = (tag: string, streaming: boolean) =>
        counting(stream, keyed(`${base}/v1/chat/completions`, {
          method: "POST",
          body: JSON.stringify({ model: emulator.demoAgent.id, stream: streaming, messages: [{ role: "user", content: tag }] })
        }))
      const rows: Array<string> = []
      for (const streaming of [false, true]) {
        for (const [fault, how] of [["status:503", "armed"], ["reset", "armed"], ["reset", "in the turn"], ["llm-error", "in the turn"]] as const) {
          const tag = `no-retry ${fault} ${how} ${streaming ? "stream" : "json"} ${Date.now()}`
          if (how === "armed") yield* arm(fault, 1)
          const [answer, attempts] = yield* turn(how === "armed" ? tag : `${tag} [[fault:${fault}]]`, streaming)
          const failedForClient = answer.status >= 400 || answer.text.includes(`"error"`)
          assert.isTrue(failedForClient, `${fault} ${how}: the client learns of the failure`)
          assert.strictEqual(attempts, 1, `${fault} ${how}: one request to Letta`)
          // the message reached Letta's history at most once (mid-turn faults: exactly once)
          const stored = yield* userMessages(tag)
          assert.strictEqual(stored, how === "armed" ? 0 : 1, `${fault} ${how}: user messages stored`)
          rows.push(`${fault} (${how}, ${streaming ? "stream" : "JSON"}): ${attempts} request, ${stored} stored`)
        }
      }
      yield* Console.log(`turns: ${rows.join("; ")}`)
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
