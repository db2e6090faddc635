/**
 * Auth, CORS, input limits, health/readiness/metrics, and what a client disconnect does upstream.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { assert, layer } from "@effect/vitest"
import { Duration, Effect, Option, Redacted, Stream } from "effect"
import { call, chat, emulatorStats, emulatorStatsUntil, fields, json, serverLayer } from "./utils/harness.js"

const key = "pipeline-secret-key"

layer(serverLayer({ server: { apiKey: Option.some(Redacted.make(key)), maxBodyBytes: 4096 } }), { excludeTestServices: true })(
  "auth and input limits",
  (it) => {
    it.effect("PIPELINE_API_KEY is required on every route but /health, in both error shapes", () =>
      Effect.gen(function*() {
        assert.strictEqual((yield* call("GET", "/health")).status, 200)
        for (const path of ["/v1/models", "/models", "/pipelines", "/letta/valves", "/ready", "/metrics"]) {
          const missing = yield* call("GET", path)
          assert.strictEqual(missing.status, 401, path)
          assert.include(String(json(missing).detail), "Not authenticated")
          assert.strictEqual(fields(json(missing).error).code, "invalid_api_key")
          const wrong = yield* call("GET", path, { headers: { authorization: "Bearer pipeline-secret-kez" } })
          assert.strictEqual(wrong.status, 401, path)
          assert.strictEqual(json(wrong).detail, "Invalid API key")
          assert.strictEqual((yield* call("GET", path, { headers: { authorization: `Bearer ${key}` } })).status, 200, path)
        }
        const post = yield* call("POST", "/v1/chat/completions", { body: yield* chat("x") })
        assert.strictEqual(post.status, 401)
      }))

    it.effect("bodies above PIPELINE_MAX_BODY are refused with 413", () =>
      Effect.gen(function*() {
        const body = yield* chat("x".repeat(5000))
        const answer = yield* call("POST", "/v1/chat/completions", { body, headers: { authorization: `Bearer ${key}` } })
        assert.strictEqual(answer.status, 413)
        assert.strictEqual(fields(json(answer).error).code, "body_too_large")
      }))

    it.effect("CORS is closed unless configured: no Access-Control-Allow-Origin", () =>
      Effect.gen(function*() {
        const answer = yield* call("GET", "/health", { headers: { origin: "https://evil.example" } })
        assert.isUndefined(answer.headers["access-control-allow-origin"])
      }))
  }
)

layer(serverLayer({ server: { corsOrigins: ["https://chat.example"] } }), { excludeTestServices: true })("CORS configured", (it) => {
  it.effect("the configured origin is allowed, others are not", () =>
    Effect.gen(function*() {
      const allowed = yield* call("GET", "/health", { headers: { origin: "https://chat.example" } })
      assert.strictEqual(allowed.headers["access-control-allow-origin"], "https://chat.example")
      const preflight = yield* call("OPTIONS", "/v1/chat/completions", {
        headers: { origin: "https://chat.example", "access-control-request-method": "POST" }
      })
      assert.isBelow(preflight.status, 300)
      const other = yield* call("GET", "/health", { headers: { origin: "https://evil.example" } })
      assert.notStrictEqual(other.headers["access-control-allow-origin"], "https://evil.example")
    }))

  it.effect("streamed answers, written by the server itself, carry the CORS headers too", () =>
    Effect.gen(function*() {
      const origin = { origin: "https://chat.example" }
      const completion = yield* call("POST", "/v1/chat/completions", { body: yield* chat("hi", { stream: true }), headers: origin })
      assert.strictEqual(completion.status, 200)
      assert.include(completion.headers["content-type"], "text/event-stream")
      assert.include(completion.text, "data: [DONE]")
      assert.strictEqual(completion.headers["access-control-allow-origin"], "https://chat.example")
      const pipe = yield* call("POST", "/v1/pipe", { body: yield* chat("hi"), headers: origin })
      assert.include(pipe.text, "event: done")
      assert.strictEqual(pipe.headers["access-control-allow-origin"], "https://chat.example")
    }))
})

layer(serverLayer({ emulator: { tokenDelay: Duration.millis(20) } }), { excludeTestServices: true })("operations", (it) => {
  it.effect("/health, /ready with Letta's version, /metrics in Prometheus text", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(json(yield* call("GET", "/health")), { status: "ok" })
      const ready = yield* call("GET", "/ready")
      assert.strictEqual(ready.status, 200)
      assert.deepStrictEqual(json(ready), { status: "ready", letta: { version: "0.16.8", status: "ok" } })
      yield* call("POST", "/v1/chat/completions", { body: yield* chat("count me") })
      const metrics = yield* call("GET", "/metrics")
      assert.include(metrics.headers["content-type"], "text/plain")
      assert.match(metrics.text, /letta_pipeline_http_requests_total\{route="\/v1\/chat\/completions",method="POST",status="200"\} \d+/)
      assert.include(metrics.text, "letta_pipeline_process_resident_memory_bytes")
    }))

  it.effect("a client that disconnects mid-stream aborts the upstream Letta stream at once", () =>
    Effect.gen(function*() {
      const before = yield* emulatorStats
      const client = yield* HttpClient.HttpClient
      const body = yield* chat("a long streamed answer that the client abandons", { stream: true })
      yield* Effect.scoped(Effect.gen(function*() {
        const response = yield* client.execute(HttpClientRequest.post("/v1/chat/completions").pipe(HttpClientRequest.bodyUnsafeJson(body)))
        const first = yield* Stream.runHead(response.stream)
        assert.isTrue(Option.isSome(first))
      }))
      const after = yield* emulatorStatsUntil((s) =>
        s.client_closed_streams > before.client_closed_streams && s.active_streams === 0
      )
      assert.strictEqual(after.client_closed_streams, before.client_closed_streams + 1)
      assert.strictEqual(after.completed_streams, before.completed_streams)
    }))
})

layer(serverLayer({ letta: { baseUrl: "http://127.0.0.1:9" } }), { excludeTestServices: true })("Letta down", (it) => {
  it.effect("/ready is 503 naming the cause; /health stays 200", () =>
    Effect.gen(function*() {
      const ready = yield* call("GET", "/ready")
      assert.strictEqual(ready.status, 503)
      assert.include(String(json(ready).letta), "Cannot reach Letta")
      assert.strictEqual((yield* call("GET", "/health")).status, 200)
    }))
})
