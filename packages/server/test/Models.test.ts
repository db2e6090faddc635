/**
 * Which agents are models, how a model names an agent, and that secrets stay out of the logs.
 */
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@letta-pipeline/emulator"
import { Effect, Layer, Logger, Option, Redacted, Ref } from "effect"
import { call, chat, demoAgent, fields, json, serverLayer } from "./utils/harness.js"

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
