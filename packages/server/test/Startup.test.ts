/**
 * Configuration that fails early and says why, on the real server layer: Letta checked at start-up (a warning per
 * failure, the server starts anyway), `/ready` failing with the reason while Letta refuses the credentials and
 * recovering once it accepts them, and a `/v1` base URL that works.
 */
import { HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { LettaConfig, Pipeline } from "@letta-pipeline/core"
import { HttpTransport } from "@letta-pipeline/core/node"
import { Emulator } from "@letta-pipeline/emulator"
import { ConfigProvider, Context, Effect, Layer, Logger, Option, Redacted } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { ConversationStore, Server } from "../src/index.js"
import { fields } from "./utils/harness.js"

/** Log lines as `LEVEL message`, kept in `lines` (instead of printed). */
const capture = (lines: Array<string>) =>
  Logger.replace(Logger.defaultLogger, Logger.make(({ logLevel, message }) => void lines.push(`${logLevel.label} ${String(message)}`)))

/** The real server (`Server.layer`) on a free port over this core, in the test's scope; its base URL. */
const started = <E>(core: Layer.Layer<Server.Requirements, E>) =>
  Effect.gen(function*() {
    const context = yield* Server.layer({ port: 0, host: "127.0.0.1" }).pipe(
      Layer.provide(core),
      // nothing from the test's own environment
      Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map()))),
      Layer.build,
      Effect.orDie
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    return address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : ""
  })

/** Core over these settings, with an in-memory conversation store. */
const core = (settings: LettaConfig.Settings) =>
  Layer.merge(Pipeline.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings))), ConversationStore.layerMemory)

const get = (url: string) =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    client.get(url).pipe(
      Effect.flatMap((response) => Effect.map(response.text, (text) => ({ status: response.status, text }))),
      Effect.scoped,
      Effect.orDie
    ))

const field = (text: string, name: string): unknown => fields(JSON.parse(text))[name]

const warnings = (lines: ReadonlyArray<string>) => lines.filter((line) => line.startsWith("WARN "))

/**
 * A Letta that accepts one key, which the test can change (a key re-issued, an admin fixing it): health for anyone,
 * the agent list (empty) for the accepted key, 401 otherwise.
 */
const switchableLetta = Effect.gen(function*() {
  const state = { key: "new-key" }
  const handler = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const answer = (status: number, body: string) => {
      response.writeHead(status, { "content-type": "application/json" })
      response.end(body)
    }
    if (request.url === "/v1/health/") return answer(200, "{\"version\":\"0.16.8\",\"status\":\"ok\"}")
    if (request.headers.authorization !== `Bearer ${state.key}`) return answer(401, "{\"detail\":\"Unauthorized\"}")
    if (request.url?.startsWith("/v1/agents/?") === true) return answer(200, "[]")
    return answer(404, "{\"detail\":\"Not Found\"}")
  }
  const server = yield* Effect.acquireRelease(
    Effect.async<http.Server>((resume) => {
      const created = http.createServer(handler)
      created.listen(0, "127.0.0.1", () => resume(Effect.succeed(created)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )
  const port = (server.address() as AddressInfo).port
  return { url: `http://127.0.0.1:${port}`, accept: (key: string) => Effect.sync(() => void (state.key = key)) }
})

describe("Letta checked at start-up; /ready", () => {
  it.scopedLive("a refused key: one warning before Listening, /ready 503 with the reason, then 200 once Letta accepts it", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const letta = yield* switchableLetta
      const url = yield* started(core(LettaConfig.make({ baseUrl: letta.url, apiKey: Option.some(Redacted.make("old-key")) })))

      const [warning, ...others] = warnings(lines)
      assert.strictEqual(others.length, 0, lines.join("\n"))
      assert.match(warning ?? "", /^WARN Letta check \(credentials\) failed: Letta refused the credentials: Unauthorized \(HTTP 401/)
      assert.include(warning, "LETTA_API_KEY")
      assert.include(warning, "The server runs anyway")
      assert.notInclude(warning, "old-key")
      // the finding comes before the server says where it listens
      const listening = lines.findIndex((line) => line.startsWith("INFO Listening on"))
      assert.isBelow(lines.indexOf(warning ?? ""), listening)

      const refused = yield* get(`${url}/ready`)
      assert.strictEqual(refused.status, 503)
      assert.strictEqual(field(refused.text, "status"), "unavailable")
      assert.match(String(field(refused.text, "letta")), /^credentials: Letta refused the credentials: Unauthorized \(HTTP 401/)
      assert.strictEqual(field(refused.text, "fix"), "set LETTA_API_KEY (Letta Cloud, or a key your server accepts) or LETTA_PASSWORD (self-hosted --secure)")
      // the server itself is up
      assert.strictEqual((yield* get(`${url}/health`)).status, 200)

      yield* letta.accept("old-key")
      const accepted = yield* get(`${url}/ready`)
      assert.strictEqual(accepted.status, 200)
      assert.deepStrictEqual(field(accepted.text, "letta"), { version: "0.16.8", status: "ok" })
    }).pipe(Effect.provide(Layer.merge(capture(lines), NodeHttpClient.layerUndici)))
  }, { timeout: 30_000 })

  it.scopedLive("an unreachable Letta: one warning, the server starts anyway", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const url = yield* started(core(LettaConfig.make({ baseUrl: "http://127.0.0.1:9", retries: 0 })))
      const [warning, ...others] = warnings(lines)
      assert.strictEqual(others.length, 0, lines.join("\n"))
      assert.match(warning ?? "", /^WARN Letta check \(reachable\) failed: Cannot reach Letta/)
      assert.include(warning, "fix: start Letta (e.g. docker run -p 8283:8283 letta/letta) or point LETTA_BASE_URL at it (now http://127.0.0.1:9)")
      assert.strictEqual((yield* get(`${url}/health`)).status, 200)
      assert.strictEqual((yield* get(`${url}/ready`)).status, 503)
    }).pipe(Effect.provide(Layer.merge(capture(lines), NodeHttpClient.layerUndici)))
  }, { timeout: 30_000 })

  it.scopedLive("a LETTA_AGENT_ID Letta does not know: one warning naming it; all well otherwise", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const missing = "agent-00000000-0000-4000-8000-000000000000"
      yield* started(core(LettaConfig.make({ baseUrl: emulator.url, agentId: Option.some(missing) })))
      const [warning, ...others] = warnings(lines)
      assert.strictEqual(others.length, 0, lines.join("\n"))
      assert.match(warning ?? "", /^WARN Letta check \(agent\) failed: Letta could not find it/)
      assert.include(warning, missing)
      assert.include(warning, "LETTA_AGENT_ID")

      lines.length = 0
      yield* started(core(LettaConfig.make({ baseUrl: emulator.url, agentId: Option.some(emulator.demoAgent.id) })))
      assert.deepStrictEqual(warnings(lines), [])
      assert.isTrue(lines.some((line) =>
        line.startsWith("INFO Letta 0.16.8 at ") && line.endsWith(`agent demo-agent (${emulator.demoAgent.id}) found`)
      ), lines.join("\n"))
    }).pipe(Effect.provide(Layer.mergeAll(capture(lines), NodeHttpClient.layerUndici, Emulator.layer())))
  }, { timeout: 30_000 })
})

describe("LETTA_BASE_URL ending in /v1", () => {
  it.scopedLive("is Letta's address with /v1 dropped (and said so): turns work", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const settings = yield* Effect.withConfigProvider(
        LettaConfig.config,
        ConfigProvider.fromMap(new Map([["LETTA_BASE_URL", `${emulator.url}/v1/`], ["LETTA_AGENT_ID", ""]]))
      )
      assert.strictEqual(settings.baseUrl, emulator.url)
      assert.isTrue(lines.some((line) => line.startsWith(`INFO LETTA_BASE_URL: dropped the trailing /v1 of ${emulator.url}/v1`)))
      const url = yield* started(core(settings))
      assert.deepStrictEqual(warnings(lines), [])
      const answer = yield* Effect.flatMap(HttpClient.HttpClient, (client) =>
        client.execute(HttpClientRequest.post(`${url}/v1/chat/completions`).pipe(
          HttpClientRequest.bodyUnsafeJson({ model: emulator.demoAgent.id, messages: [{ role: "user", content: "through /v1" }] })
        )).pipe(Effect.flatMap((response) => Effect.map(response.text, (text) => ({ status: response.status, text }))), Effect.scoped))
      assert.strictEqual(answer.status, 200, answer.text)
      assert.include(answer.text, "through /v1")
    }).pipe(Effect.provide(Layer.mergeAll(capture(lines), NodeHttpClient.layerUndici, Emulator.layer())))
  }, { timeout: 30_000 })
})
