/**
 * The middleware every route group is composed with, seen from a client: the `Host` check (all but `/health`), the
 * Origin policy (every route), the key (all but `/health` and the chat page's files), in that order, and the metrics
 * of every answer by route template, the `/v1` twins and the refusals included.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Logger, Option, Redacted } from "effect"
import * as http from "node:http"
import { chat, dataLines, serverLayer, serverUrl } from "./utils/harness.js"

const key = "middleware-secret"

/** One request with exactly these headers (`fetch` would not send a foreign `Host`). */
const raw = (path: string, headers: Record<string, string>) =>
  Effect.flatMap(serverUrl, (url) =>
    Effect.async<{ readonly status: number; readonly body: string }>((resume) => {
      const request = http.request(`${url}${path}`, { headers, agent: false }, (response) => {
        let body = ""
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => void (body += chunk))
        response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, body })))
      })
      request.on("error", (error) => resume(Effect.die(error)))
      request.end()
    }))

layer(serverLayer({ server: { apiKey: Option.some(Redacted.make(key)) } }), { excludeTestServices: true })("middleware", (it) => {
  it.effect("a foreign Host is refused before the Origin and the key, everywhere but /health", () =>
    Effect.gen(function*() {
      const foreign = { host: "attacker.example", origin: "http://attacker.example" }
      for (const path of ["/v1/models", "/pipelines", "/v1/pipelines", "/letta/valves", "/v1/letta/valves", "/", "/assets/app.js", "/metrics"]) {
        const answer = yield* raw(path, foreign)
        assert.strictEqual(answer.status, 403, path)
        assert.include(answer.body, "host_not_allowed", path)
      }
      assert.strictEqual((yield* raw("/health", { host: "attacker.example" })).status, 200)
    }))

  it.effect("a foreign Origin is refused on every route, /health and the page's files included, before the key", () =>
    Effect.gen(function*() {
      for (const path of ["/health", "/assets/app.js", "/v1/models", "/v1/pipelines"]) {
        const answer = yield* raw(path, { origin: "https://evil.example" })
        assert.strictEqual(answer.status, 403, path)
        assert.include(answer.body, "origin_not_allowed", path)
      }
    }))

  it.effect("the key is asked on the API and its /v1 twins, not for /health and the page's files", () =>
    Effect.gen(function*() {
      for (const path of ["/health", "/assets/app.js"]) assert.strictEqual((yield* raw(path, {})).status, 200, path)
      for (const path of ["/pipelines", "/v1/pipelines", "/v1", "/ready"]) {
        const answer = yield* raw(path, {})
        assert.strictEqual(answer.status, 401, path)
        assert.include(answer.body, "Not authenticated", path)
      }
      const authorized = { authorization: `Bearer ${key}` }
      assert.strictEqual((yield* raw("/v1/pipelines", authorized)).status, 200)
      assert.strictEqual((yield* raw("/v1/nope/valves", authorized)).body, JSON.stringify({ detail: "Pipeline nope not found" }))
      const metrics = (yield* raw("/metrics", authorized)).body
      assert.match(metrics, /letta_pipeline_http_requests_total\{route="\/v1\/pipelines",method="GET",status="200"\} 1/)
      assert.match(metrics, /letta_pipeline_http_requests_total\{route="\/pipelines",method="GET",status="401"\} \d+/)
      assert.match(metrics, /letta_pipeline_http_requests_total\{route="\/v1\/:pipeline_id\/valves",method="GET",status="404"\} 1/)
      assert.match(metrics, /letta_pipeline_http_requests_total\{route="\/health",method="GET",status="200"\} \d+/)
    }))
})

/** What the server logged, as `LEVEL message` lines. */
const logged: Array<string> = []
const capture = Logger.replace(
  Logger.defaultLogger,
  Logger.make(({ logLevel, message }) => {
    logged.push(`${logLevel.label} ${(Array.isArray(message) ? message : [message]).map(String).join(" ")}`)
  })
)
const accessLines = () => logged.filter((line) => line.includes("Sent HTTP response"))

layer(serverLayer().pipe(Layer.provide(capture)), { excludeTestServices: true })("access log", (it) => {
  it.effect("one info line per answered request: method, path without its query, status and time taken", () =>
    Effect.gen(function*() {
      logged.length = 0
      assert.strictEqual((yield* raw("/v1/models?token=sk-in-a-query", {})).status, 200)
      assert.strictEqual((yield* raw("/v1/no-such-route", {})).status, 404)
      const url = yield* serverUrl
      const body = JSON.stringify(yield* chat("Hello", { stream: true }))
      const streamed = yield* Effect.promise(() =>
        fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body })
          .then((response) => response.text()))
      assert.strictEqual(dataLines(streamed).at(-1), "[DONE]")
      const lines = accessLines()
      assert.strictEqual(lines.length, 3, lines.join("\n"))
      assert.match(lines[0] ?? "", /^INFO Sent HTTP response: GET \/v1\/models 200 \(\d+ ms\)$/)
      assert.match(lines[1] ?? "", /^INFO Sent HTTP response: GET \/v1\/no-such-route 404 \(\d+ ms\)$/)
      // a stream is logged once it has ended
      assert.match(lines[2] ?? "", /^INFO Sent HTTP response: POST \/v1\/chat\/completions 200 \(\d+ ms\)$/)
      assert.notInclude(logged.join("\n"), "sk-in-a-query")
    }))
})
