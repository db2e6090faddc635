/// <reference lib="dom" />
/**
 * DNS rebinding: a page on the attacker's domain, re-pointed at the server's address, calls it as if same-origin. The
 * server as its own process, with no API key (the default), refuses every name it is not known by; in raw requests
 * with the exact headers of the review, and in Chromium with the attacker's name mapped to 127.0.0.1.
 */
import { NodeContext } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Console, Effect, Layer } from "effect"
import * as http from "node:http"
import { chromium } from "playwright-core"
import { Emulator } from "@letta-pipeline/emulator"
import { startAndWait } from "../utils/cli.js"
import { emulatorLayer, secrets } from "./stack.js"

const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

interface Raw {
  readonly status: number
  readonly body: string
}

/** One request with exactly these headers (`fetch` would not send a foreign `Host`). */
const raw = (port: number, method: string, path: string, headers: Record<string, string>, body?: string) =>
  Effect.async<Raw>((resume) => {
    // a fresh connection each: one that carried a refused upgrade is not read again by the server
    const request = http.request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (response) => {
      let text = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => void (text += chunk))
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, body: text })))
    })
    // an upgrade answered with a plain response ends up here too
    request.on("upgrade", (response, socket) => {
      socket.destroy()
      resume(Effect.succeed({ status: response.statusCode ?? 101, body: "" }))
    })
    request.on("error", (error) => resume(Effect.die(new Error(`${method} ${path} ${JSON.stringify(headers)}: ${error.message}`))))
    request.end(body)
  })

const Live = Layer.mergeAll(emulatorLayer(), NodeContext.layer)

layer(Live, { excludeTestServices: true })("DNS rebinding", (it) => {
  it.effect("a foreign Host is refused on every browser-reachable route; the names the server is known by are served", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const url = yield* startAndWait(["serve", "--port", "0"], {
        LETTA_BASE_URL: emulator.url,
        LETTA_PASSWORD: secrets.lettaPassword,
        PIPELINE_STORE: "memory",
        PIPELINE_ALLOWED_HOSTS: "letta-pipeline.internal"
      })
      const port = Number(new URL(url).port)
      const chat = JSON.stringify({ model: emulator.demoAgent.id, messages: [{ role: "user", content: "rebound" }] })
      const before = yield* emulator.stats.snapshot
      const attacker = { host: `attacker.example:${port}`, origin: `http://attacker.example:${port}` }
      const attempts: ReadonlyArray<readonly [string, string, Record<string, string>, string?]> = [
        ["GET", "/v1/models", {}],
        ["GET", "/models", {}],
        ["POST", "/v1/chat/completions", { "content-type": "application/json" }, chat],
        ["POST", "/v1/pipe", { "content-type": "application/json" }, chat],
        ["GET", "/letta/valves", {}],
        ["POST", "/letta/valves/update", { "content-type": "application/json" }, JSON.stringify({ status_events: "on", stream_tokens: true, openwebui_tool_calls: "items", agent_tags: [] })],
        ["GET", "/v1/ws", { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" }],
        ["GET", "/", { accept: "text/html" }],
        ["GET", "/metrics", {}],
        ["GET", "/ready", {}]
      ]
      let refused = 0
      for (const [method, path, headers, body] of attempts) {
        // with the attacker's Origin (a cross-site-looking request), and without it (a same-origin GET sends none)
        for (const origin of [{ origin: attacker.origin }, {}]) {
          const answer = yield* raw(port, method, path, { ...headers, host: attacker.host, ...origin }, body)
          assert.strictEqual(answer.status, 403, `${method} ${path} ${JSON.stringify(origin)}`)
          if (answer.body !== "") assert.include(answer.body, "host_not_allowed")
          refused++
        }
      }
      const after = yield* emulator.stats.snapshot
      assert.strictEqual(after.total_streams, before.total_streams, "no turn reached Letta")
      // the valves were not changed
      const valves = yield* raw(port, "GET", "/letta/valves", { host: `127.0.0.1:${port}` })
      assert.include(valves.body, `"status_events":"auto"`)
      // health answers whatever the name: load balancers probe by theirs
      assert.strictEqual((yield* raw(port, "GET", "/health", { host: attacker.host })).status, 200)
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `app.localhost:${port}`, `letta-pipeline.internal:${port}`, `LETTA-PIPELINE.INTERNAL:${port}`]) {
        assert.strictEqual((yield* raw(port, "GET", "/v1/models", { host })).status, 200, host)
      }

      // Chromium: the attacker's name resolves to this server, as after a rebinding
      const seen = yield* Effect.acquireUseRelease(
        Effect.promise(() => chromium.launch({ executablePath: chromiumPath, args: ["--host-resolver-rules=MAP attacker.example 127.0.0.1"] })),
        (browser) =>
          Effect.promise(async () => {
            const page = await browser.newPage()
            const rebound = await page.goto(`http://attacker.example:${port}/`)
            // the page's own script, same-origin in the browser's eyes
            const fromPage = await page.evaluate(async (body) => {
              const models = await fetch("/v1/models")
              const turn = await fetch("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body })
              return [models.status, turn.status]
            }, chat)
            const home = await page.goto(`http://localhost:${port}/`)
            const fromHome = await page.evaluate(async () => (await fetch("/v1/models")).status)
            return { rebound: rebound?.status(), fromPage, home: home?.status(), fromHome }
          }),
        (browser) => Effect.promise(() => browser.close())
      )
      assert.deepStrictEqual(seen, { rebound: 403, fromPage: [403, 403], home: 200, fromHome: 200 })
      assert.strictEqual((yield* emulator.stats.snapshot).total_streams, before.total_streams)
      yield* Console.log(`DNS rebinding: ${refused} raw attempts (${attempts.length} routes, with and without Origin) and 3 from Chromium refused; 6 known names served`)
    }).pipe(Effect.scoped), 120_000)
})
