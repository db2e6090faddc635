/**
 * The connection checks shared by `doctor`, the server's start-up and `/ready`, over the real client and a mock
 * `HttpClient`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { LettaCheck } from "../src/index.js"
import * as Letta from "./utils/letta.js"
import * as Mock from "./utils/MockHttpClient.js"

const health = { version: "0.16.8", status: "ok" }

/** A Letta whose health answers, whose agents are `agents`, and which answers 401 to anything else when `refuse`. */
const letta = (options: { readonly refuse?: boolean; readonly agents?: ReadonlyArray<ReturnType<typeof Letta.agent>> }) =>
(request: Mock.Recorded): Response => {
  if (request.url === "/v1/health/") return Mock.json(health)
  if (options.refuse === true) return Mock.json({ detail: "Unauthorized" }, 401)
  const agents = options.agents ?? []
  if (request.url.startsWith("/v1/agents/?")) return Mock.json(agents)
  const found = agents.find((agent) => request.url === `/v1/agents/${agent.id}`)
  return found === undefined ? Mock.json({ detail: `Agent with ID ${request.url.split("/")[3]} not found` }, 404) : Mock.json(found)
}

describe("LettaCheck", () => {
  it.effect("ready: Letta answers and accepts the credentials, asking for one agent only", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* LettaCheck.ready, health)
      assert.deepStrictEqual((yield* Mock.recorded).map((request) => request.url), ["/v1/health/", "/v1/agents/?limit=1"])
    }).pipe(Effect.provide(Mock.clientLayer(letta({ agents: [Letta.agent(Letta.agentId, "milo")] })))))

  it.effect("refused credentials fail the credentials step, naming the settings to fix", () =>
    Effect.gen(function*() {
      const failure = yield* Effect.flip(LettaCheck.ready)
      assert.strictEqual(failure.step, "credentials")
      assert.isTrue(LettaCheck.isRefused(failure.error))
      assert.strictEqual(failure.fix, "set LETTA_API_KEY (Letta Cloud, or a key your server accepts) or LETTA_PASSWORD (self-hosted --secure)")
      assert.match(failure.message, /^credentials: Letta refused the credentials: Unauthorized \(HTTP 401/)
    }).pipe(Effect.provide(Mock.clientLayer(letta({ refuse: true })))))

  it.effect("all: the configured agent is checked once the credentials pass", () =>
    Effect.gen(function*() {
      const failure = yield* Effect.flip(LettaCheck.all)
      assert.strictEqual(failure.step, "agent")
      assert.strictEqual(failure.error._tag === "LettaError" && failure.error.reason, "NotFound")
      assert.include(failure.fix, "LETTA_AGENT_ID")
    }).pipe(Effect.provide(Mock.clientLayer(letta({}), { agentId: Option.some(Letta.agentId) }))))

  it.effect("all: every check passes, with the agent found", () =>
    Effect.gen(function*() {
      const report = yield* LettaCheck.all
      assert.deepStrictEqual(Option.map(report.agent, (agent) => agent.name), Option.some("milo"))
    }).pipe(Effect.provide(Mock.clientLayer(letta({ agents: [Letta.agent(Letta.agentId, "milo")] }), {
      agentId: Option.some(Letta.agentId)
    }))))

  it.effect("unreachable: the reachable step fails with the address to check", () =>
    Effect.gen(function*() {
      const failure = yield* Effect.flip(LettaCheck.all)
      assert.strictEqual(failure.step, "reachable")
      assert.include(failure.fix, `point LETTA_BASE_URL at it (now ${Mock.baseUrl})`)
      assert.include(failure.message, "Cannot reach Letta")
    }).pipe(Effect.provide(Mock.clientLayer(() => Mock.connectionRefused, { retries: 0 }))))

  it.effect("a base URL that leads to no Letta API stops at the reachable step, naming LETTA_BASE_URL", () =>
    Effect.gen(function*() {
      const failure = yield* Effect.flip(LettaCheck.all)
      assert.strictEqual(failure.step, "reachable")
      assert.include(failure.message, "no Letta API at this address: check LETTA_BASE_URL")
    }).pipe(Effect.provide(Mock.clientLayer(() => Mock.json({ detail: "Not Found" }, 404)))))
})
