/**
 * Who gets in and what leaks out, against the server as its own process and the CLI: agent ids with path tricks never
 * reach Letta; the API key is required; pages of other origins are refused; TLS is verified unless the user opts out;
 * the body limit holds; no secret appears in any log line, error body or CLI output of the suite.
 */
import { NodeContext } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@letta-pipeline/emulator"
import { Console, Effect, Layer } from "effect"
import { readFileSync } from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { runCli } from "../utils/cli.js"
import { call, emulatorLayer, leakedSecrets, secrets, seen, serverProcess } from "./stack.js"

const chatBody = (model: string, stream = false) =>
  JSON.stringify({ model, stream, messages: [{ role: "user", content: "security" }] })

/** Every request the emulated Letta has seen, by route. */
const requestsSeen = Effect.map(Emulator.Emulator, (emulator) => emulator.stats.snapshot).pipe(
  Effect.flatten,
  Effect.map((stats) => stats.requests_by_route)
)
const total = (byRoute: Readonly<Record<string, number>>) => Object.values(byRoute).reduce((a, b) => a + b, 0)

const fixture = (name: string) => fileURLToPath(new URL(`../../../core/test/fixtures/${name}`, import.meta.url))

/** A self-signed HTTPS front for the emulator on loopback, as a Letta behind a private certificate. */
const selfSignedLetta = (target: string) =>
  Effect.acquireRelease(
    Effect.async<https.Server>((resume) => {
      const server = https.createServer({ cert: readFileSync(fixture("tls-cert.pem")), key: readFileSync(fixture("tls-key.pem")) }, (request, response) => {
        const upstream = http.request(`${target}${request.url ?? "/"}`, { method: request.method, headers: request.headers }, (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(response)
        })
        request.pipe(upstream)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  ).pipe(Effect.map((server) => `https://127.0.0.1:${(server.address() as AddressInfo).port}`))

const Live = Layer.mergeAll(emulatorLayer(), NodeContext.layer)

layer(Live, { excludeTestServices: true })("security", (it) => {
  it.effect("agent ids with path tricks are refused before any call to Letta, by the server and by the CLI", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const base = yield* Effect.orDie(serverProcess({ LETTA_AGENT_ID: "" }))
      const auth = { authorization: `Bearer ${secrets.pipelineKey}`, "content-type": "application/json" }
      const id = emulator.demoAgent.id
      const tricks = [
        `${id}/../../v1/agents`,
        `agent-../../v1/health`,
        `${id}%2e%2e%2f`,
        `agent-%2e%2e%2f%2e%2e%2fv1%2fagents`,
        `${id}?limit=1`,
        `${id}#fragment`,
        `${id}/messages`,
        `agent-${id.slice(6).replace(/[a-f]/, (c) => String.fromCharCode(c.charCodeAt(0) + 0x3b0))}`, // Cyrillic а/е look-alikes
        `agent-${id.slice(6).replace(/[0-9]/, (d) => String.fromCharCode(0xff10 + Number(d)))}`, // a full-width digit
        `${id}\u200b`, // zero-width space
        `agent-${id.slice(6).toUpperCase()}`
      ]
      const before = yield* requestsSeen
      const refusals: Array<string> = []
      for (const trick of tricks) {
        const openAi = yield* call(`${base}/v1/chat/completions`, { method: "POST", headers: auth, body: chatBody(trick) })
        const native = yield* call(`${base}/v1/pipe`, { method: "POST", headers: auth, body: chatBody(trick, true) })
        const cli = yield* runCli(["chat", "--agent", trick, "hello"], {
          env: { LETTA_BASE_URL: emulator.url, LETTA_PASSWORD: secrets.lettaPassword }
        })
        seen.push(cli.stdout, cli.stderr)
        assert.strictEqual(openAi.status, 400, `${JSON.stringify(trick)}: ${openAi.text}`)
        assert.include(openAi.text, "not a valid agent id")
        // the native stream has begun (200): its only event is the error
        assert.include(native.text, `"type":"error"`, JSON.stringify(trick))
        assert.notInclude(native.text, `"type":"message"`)
        assert.strictEqual(cli.code, 1, JSON.stringify(trick))
        assert.include(cli.stderr, "not a valid agent id")
        refusals.push(openAi.text)
      }
      const after = yield* requestsSeen
      assert.deepStrictEqual(after, before)
      assert.strictEqual(refusals.length, tricks.length)

      // not shaped like an id, so taken as agent names: looked up in the list of agents, never put in a URL
      const names = ["../agents", "..%2f..%2fv1%2fagents", `\u0430${id.slice(1)}`, `${id.slice(6)}/../x`]
      for (const name of names) {
        const answer = yield* call(`${base}/v1/chat/completions`, { method: "POST", headers: auth, body: chatBody(name) })
        assert.strictEqual(answer.status, 404, name)
        assert.include(answer.text, "model_not_found")
      }
      const byName = yield* requestsSeen
      assert.deepStrictEqual(Object.keys(byName).filter((route) => (byName[route] ?? 0) !== (after[route] ?? 0)), ["GET /v1/agents/"])
      yield* Console.log(
        `path tricks: ${tricks.length} id-shaped tricks × 3 surfaces refused with Letta seeing ${total(after) - total(before)} requests; ` +
          `${names.length} name-shaped ones only looked up in the agent list (${total(byName) - total(after)} list requests)`
      )
    }).pipe(Effect.scoped), { timeout: 120_000 })

  it.effect("the API key is required on every route but /health, and a foreign page is refused", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const base = yield* Effect.orDie(serverProcess({ PIPELINE_CORS_ORIGINS: "https://chat.example" }))
      const body = chatBody(emulator.demoAgent.id)
      const json = { "content-type": "application/json" }
      const key = secrets.pipelineKey
      const wrong: ReadonlyArray<Record<string, string>> = [
        {},
        { authorization: "" },
        { authorization: "Bearer" },
        { authorization: "Bearer " },
        { authorization: key },
        { authorization: `Basic ${Buffer.from(`user:${key}`).toString("base64")}` },
        { authorization: `Bearer ${key.slice(0, -1)}` },
        { authorization: `Bearer ${key.slice(0, -1)}x` },
        { authorization: `Bearer ${key}x` },
        { authorization: `Bearer ${key.toUpperCase()}` },
        { authorization: `Bearer ${"x".repeat(10_000)}` }
      ]
      for (const headers of wrong) {
        for (const [method, path] of [["POST", "/v1/chat/completions"], ["GET", "/v1/models"], ["GET", "/metrics"], ["GET", "/ready"], ["POST", "/v1/pipe"]] as const) {
          const answer = yield* call(`${base}${path}`, { method, headers: { ...json, ...headers }, ...(method === "POST" ? { body } : {}) })
          assert.strictEqual(answer.status, 401, `${path} with ${JSON.stringify(headers).slice(0, 80)}`)
          assert.include(answer.text, "invalid_api_key")
        }
      }
      const health = yield* call(`${base}/health`)
      assert.strictEqual(health.status, 200)
      const ok = yield* call(`${base}/v1/chat/completions`, { method: "POST", headers: { ...json, authorization: `Bearer ${key}` }, body })
      assert.strictEqual(ok.status, 200)

      // a page elsewhere may not call, even with the key (a drive-by request from the user's browser); the configured
      // page and the server's own origin may
      const withKey = { ...json, authorization: `Bearer ${key}` }
      for (const origin of ["https://evil.example", "null", "http://127.0.0.1.evil.example", "https://chat.example.evil"]) {
        const refused = yield* call(`${base}/v1/chat/completions`, { method: "POST", headers: { ...withKey, origin }, body })
        assert.strictEqual(refused.status, 403, origin)
        assert.include(refused.text, "PIPELINE_CORS_ORIGINS")
      }
      const ws = yield* Effect.promise(() =>
        new Promise<number>((resolve) => {
          const request = http.request(`${base}/v1/ws`, {
            headers: { ...withKey, origin: "https://evil.example", connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" }
          })
          request.on("response", (response) => resolve(response.statusCode ?? 0))
          request.on("upgrade", () => resolve(101))
          request.end()
        })
      )
      assert.strictEqual(ws, 403, "a WebSocket from a foreign page")
      const configured = yield* call(`${base}/v1/chat/completions`, { method: "POST", headers: { ...withKey, origin: "https://chat.example" }, body })
      assert.strictEqual(configured.status, 200)
      const own = yield* call(`${base}/v1/chat/completions`, { method: "POST", headers: { ...withKey, origin: base }, body })
      assert.strictEqual(own.status, 200)
      yield* Console.log(`API key: ${wrong.length} wrong credentials × 5 routes refused (401); foreign origins 403, WebSocket included`)
    }).pipe(Effect.scoped), { timeout: 120_000 })

  it.effect("TLS is verified: a self-signed Letta is refused unless trusted (LETTA_CA_FILE) or verification is off", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const letta = yield* selfSignedLetta(emulator.url)
      const env = { LETTA_BASE_URL: letta, LETTA_PASSWORD: secrets.lettaPassword }
      const refused = yield* runCli(["agents"], { env })
      const trusted = yield* runCli(["agents"], { env: { ...env, LETTA_CA_FILE: fixture("tls-cert.pem") } })
      const insecure = yield* runCli(["agents"], { env: { ...env, LETTA_TLS_INSECURE: "true" } })
      seen.push(refused.stdout, refused.stderr, trusted.stdout, trusted.stderr, insecure.stdout, insecure.stderr)
      assert.strictEqual(refused.code, 1)
      assert.match(refused.stderr, /certificate/i)
      assert.strictEqual(trusted.code, 0, trusted.stderr)
      assert.include(trusted.stdout, emulator.demoAgent.id)
      assert.strictEqual(insecure.code, 0, insecure.stderr)
      assert.include(insecure.stdout, emulator.demoAgent.id)
      // opting out is said out loud
      assert.match(insecure.stderr, /LETTA_TLS_INSECURE/)
      // the server verifies too: not ready, naming the certificate
      const base = yield* Effect.orDie(serverProcess({ LETTA_BASE_URL: letta }))
      const ready = yield* call(`${base}/ready`, { headers: { authorization: `Bearer ${secrets.pipelineKey}` } })
      assert.strictEqual(ready.status, 503)
      assert.match(ready.text, /certificate/i)
    }).pipe(Effect.scoped), { timeout: 120_000 })

  it.effect("the body limit holds on the server process: 413, and it keeps serving", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const base = yield* Effect.orDie(serverProcess({ PIPELINE_MAX_BODY: "4096" }))
      const headers = { authorization: `Bearer ${secrets.pipelineKey}`, "content-type": "application/json" }
      const big = JSON.stringify({ model: emulator.demoAgent.id, messages: [{ role: "user", content: "x".repeat(5000) }] })
      const refused = yield* call(`${base}/v1/chat/completions`, { method: "POST", headers, body: big })
      assert.strictEqual(refused.status, 413)
      assert.include(refused.text, "4096 bytes")
      const fine = yield* call(`${base}/v1/chat/completions`, { method: "POST", headers, body: chatBody(emulator.demoAgent.id) })
      assert.strictEqual(fine.status, 200)
    }).pipe(Effect.scoped))

  it.effect("wrong Letta credentials and everything above: no secret in any log line, error body or CLI output", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      // a wrong password the CLI must not echo, and the right one in a URL-ish place
      const wrongPassword = `${secrets.lettaPassword}-wrong`
      const cli = yield* runCli(["agents", "--log-level", "debug"], { env: { LETTA_BASE_URL: emulator.url, LETTA_PASSWORD: wrongPassword } })
      seen.push(cli.stdout, cli.stderr)
      assert.strictEqual(cli.code, 1)
      assert.notInclude(cli.stderr, wrongPassword)
      const doctor = yield* runCli(["doctor", "--log-level", "debug"], { env: { LETTA_BASE_URL: emulator.url, LETTA_PASSWORD: secrets.lettaPassword, PIPELINE_API_KEY: secrets.pipelineKey } })
      seen.push(doctor.stdout, doctor.stderr)
      const lines = seen.flatMap((text) => text.split("\n")).filter((line) => line.trim() !== "")
      yield* Console.log(`secrets: ${lines.length} lines of logs, bodies and CLI output scanned; ${leakedSecrets().length} secrets found`)
      assert.isAbove(lines.length, 100)
      assert.deepStrictEqual(leakedSecrets(), [])
      assert.isFalse(lines.some((line) => line.includes(wrongPassword)))
    }), { timeout: 60_000 })
})
