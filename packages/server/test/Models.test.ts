/**
 * Which agents are models, how a model names an agent, and that secrets stay out of the logs.
 */
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@letta-pipeline/emulator"
import { Effect, Layer, Logger, Option, Redacted, Ref } from "effect"
import { call, chat, dataLines, demoAgent, emulatorStats, fields, json, serverLayer, wsConnect } from "./utils/harness.js"

/** One turn over `/v1/ws`: its first event. */
const wsFirstEvent = (model: string) =>
  Effect.gen(function*() {
    const ws = yield* wsConnect
    yield* ws.send({ type: "turn", model, messages: [{ role: "user", content: "x" }] })
    return yield* ws.next
  }).pipe(Effect.scoped)

const ids = (answer: Readonly<Record<string, unknown>>) =>
  (answer.data as ReadonlyArray<unknown>).map((model) => String(fields(model).id))

layer(serverLayer(), { excludeTestServices: true })("models", (it) => {
  it.effect("every agent is a model; the tags valve narrows the list", () =>
    Effect.gen(function*() {
      const store = yield* Effect.map(Emulator.Emulator, (e) => e.store)
      const tagged = yield* store.createAgent({ name: "tagged", tags: ["open-webui"] })
      const all = ids(json(yield* call("GET", "/v1/models")))
      assert.includeMembers(all, [tagged.id, (yield* demoAgent).id])
      const valves = json(yield* call("GET", "/letta/valves"))
      yield* call("POST", "/letta/valves/update", { body: { ...valves, agent_tags: ["open-webui"] } })
      assert.deepStrictEqual(ids(json(yield* call("GET", "/v1/models"))), [tagged.id])
      yield* call("POST", "/letta/valves/update", { body: valves })
    }))

  it.effect("with the tags valve, an untagged agent is refused by id, by letta.<id> and by name on every surface; a tagged one is served", () =>
    Effect.gen(function*() {
      const store = yield* Effect.map(Emulator.Emulator, (e) => e.store)
      const tagged = yield* store.createAgent({ name: "allowed-agent", tags: ["open-webui"] })
      const hidden = yield* store.createAgent({ name: "hidden-agent", tags: ["internal"] })
      const valves = json(yield* call("GET", "/letta/valves"))
      yield* call("POST", "/letta/valves/update", { body: { ...valves, agent_tags: ["open-webui"] } })
      const before = yield* emulatorStats
      const turn = (model: string, stream: boolean) =>
        call("POST", "/v1/chat/completions", { body: { model, stream, messages: [{ role: "user", content: "x" }] } })
      let attempts = 0
      for (const model of [hidden.id, `letta.${hidden.id}`, "hidden-agent"]) {
        for (const stream of [false, true]) {
          const refused = yield* turn(model, stream)
          assert.strictEqual(refused.status, 404, `${model} stream=${stream}`)
          assert.strictEqual(fields(json(refused).error).code, "model_not_found")
          attempts++
        }
        const piped = dataLines((yield* call("POST", "/v1/pipe", { body: { model, messages: [{ role: "user", content: "x" }] } })).text)
        assert.strictEqual(fields(fields(piped[0]).data).reason, "NotFound", model)
        const overWs = yield* wsFirstEvent(model)
        assert.strictEqual(overWs.type, "error")
        assert.strictEqual(fields(overWs.data).reason, "NotFound", model)
        attempts += 2
      }
      // no turn of the hidden agent reached Letta
      const after = yield* emulatorStats
      assert.strictEqual(after.total_streams, before.total_streams)
      for (const model of [tagged.id, `letta.${tagged.id}`, "allowed-agent"]) assert.strictEqual((yield* turn(model, false)).status, 200, model)
      yield* call("POST", "/letta/valves/update", { body: valves })
      assert.strictEqual((yield* turn(hidden.id, false)).status, 200)
      console.log(`tag allowlist: ${attempts} attempts on an untagged agent (id, letta.<id>, name × 4 surfaces), all refused`)
    }))

  it.effect("a malformed agent id as model is a 400, not an unknown model", () =>
    Effect.gen(function*() {
      const answer = yield* call("POST", "/v1/chat/completions", {
        body: { model: "agent-../../admin", messages: [{ role: "user", content: "x" }] }
      })
      assert.strictEqual(answer.status, 400)
      assert.strictEqual(fields(json(answer).error).code, "InvalidId")
    }))
})

layer(serverLayer({ pinDemoAgent: true }), { excludeTestServices: true })("LETTA_AGENT_ID", (it) => {
  it.effect("with LETTA_AGENT_ID only that agent is a model, and other agents are refused", () =>
    Effect.gen(function*() {
      const store = yield* Effect.map(Emulator.Emulator, (e) => e.store)
      const other = yield* store.createAgent({ name: "other" })
      assert.deepStrictEqual(ids(json(yield* call("GET", "/v1/models"))), [(yield* demoAgent).id])
      const refused = yield* call("POST", "/v1/chat/completions", { body: { model: other.id, messages: [{ role: "user", content: "x" }] } })
      assert.strictEqual(refused.status, 404)
      const allowed = yield* call("POST", "/v1/chat/completions", { body: yield* chat("x") })
      assert.strictEqual(allowed.status, 200)
    }))
})

const logs = Ref.unsafeMake<ReadonlyArray<string>>([])
const captured = Logger.replace(
  Logger.defaultLogger,
  Logger.make(({ message, annotations }) => Effect.runSync(Ref.update(logs, (all) => [...all, `${String(message)} ${JSON.stringify([...annotations])}`])))
)

layer(
  serverLayer({
    server: { apiKey: Option.some(Redacted.make("pk-never-log-me")) },
    letta: { apiKey: Option.some(Redacted.make("sk-let-never-log-me")), password: Option.some(Redacted.make("pw-never-log-me")) }
  }).pipe(Layer.provide(captured)),
  { excludeTestServices: true }
)("secrets", (it) => {
  it.effect("API keys and passwords never appear in logs or error bodies", () =>
    Effect.gen(function*() {
      const body = yield* chat("hello [[fault:status:500]]")
      const failed = yield* call("POST", "/v1/chat/completions", { body, headers: { authorization: "Bearer pk-never-log-me" } })
      assert.strictEqual(failed.status, 502)
      const wrong = yield* call("GET", "/v1/models", { headers: { authorization: "Bearer pk-never-log-me-not" } })
      const everything = [...(yield* Ref.get(logs)), failed.text, wrong.text].join("\n")
      assert.isAbove((yield* Ref.get(logs)).length, 0)
      for (const secret of ["pk-never-log-me", "sk-let-never-log-me", "pw-never-log-me"]) {
        assert.notInclude(everything, secret)
      }
    }))
})
