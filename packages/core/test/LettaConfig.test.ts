import { assert, describe, it } from "@effect/vitest"
import { Chunk, ConfigProvider, Duration, Effect, Inspectable, Layer, Logger, Option, Redacted, Stream } from "effect"
import { LettaClient, LettaConfig } from "../src/index.js"
import * as Letta from "./utils/letta.js"
import * as Mock from "./utils/MockHttpClient.js"

const read = (env: Record<string, string>) =>
  Effect.withConfigProvider(LettaConfig.config, ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("LettaConfig", () => {
  it.effect("defaults without any variable", () =>
    Effect.gen(function*() {
      const settings = yield* read({})
      assert.strictEqual(settings.name, "Letta")
      assert.strictEqual(settings.baseUrl, "http://localhost:8283")
      assert.isTrue(Option.isNone(settings.apiKey))
      assert.isTrue(Option.isNone(settings.agentId))
      assert.strictEqual(settings.mode, "stream")
      assert.strictEqual(settings.retries, 2)
      assert.isTrue(settings.streamTokens)
      assert.isFalse(settings.tls.insecure)
      assert.deepStrictEqual(settings.timeouts, LettaConfig.defaults.timeouts)
    }))

  it.effect("reads every variable; durations as seconds or Effect durations; trailing slash dropped", () =>
    Effect.gen(function*() {
      const settings = yield* read({
        PIPELINE_NAME: "Milo",
        LETTA_BASE_URL: "https://api.letta.com/",
        LETTA_API_KEY: "sk-let-123",
        LETTA_PASSWORD: "pw",
        LETTA_AGENT_ID: "agent-6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f",
        LETTA_CONNECT_TIMEOUT: "2.5",
        LETTA_FIRST_EVENT_TIMEOUT: "45 seconds",
        LETTA_IDLE_TIMEOUT: "2 minutes",
        LETTA_TURN_TIMEOUT: "600",
        LETTA_CA_FILE: "/etc/ssl/letta-ca.pem",
        LETTA_TLS_INSECURE: "true",
        LETTA_STREAM_TOKENS: "false",
        LETTA_MODE: "poll",
        LETTA_POLL_INTERVAL: "500 millis",
        LETTA_RETRIES: "0"
      })
      assert.strictEqual(settings.name, "Milo")
      assert.strictEqual(settings.baseUrl, "https://api.letta.com")
      assert.strictEqual(Option.map(settings.apiKey, Redacted.value).pipe(Option.getOrThrow), "sk-let-123")
      assert.strictEqual(Duration.toMillis(settings.timeouts.connect), 2500)
      assert.strictEqual(Duration.toMillis(settings.timeouts.firstEvent), 45_000)
      assert.strictEqual(Duration.toMillis(settings.timeouts.idle), 120_000)
      assert.strictEqual(Duration.toMillis(settings.timeouts.turn), 600_000)
      assert.deepStrictEqual(settings.tls, { caFile: Option.some("/etc/ssl/letta-ca.pem"), insecure: true })
      assert.isFalse(settings.streamTokens)
      assert.strictEqual(settings.mode, "poll")
      assert.strictEqual(Duration.toMillis(settings.pollInterval), 500)
      assert.strictEqual(settings.retries, 0)
    }))

  it.effect("empty secrets and agent id count as unset", () =>
    Effect.gen(function*() {
      const settings = yield* read({ LETTA_API_KEY: "", LETTA_PASSWORD: "  ", LETTA_AGENT_ID: "" })
      assert.isTrue(Option.isNone(settings.apiKey))
      assert.isTrue(Option.isNone(settings.password))
      assert.isTrue(Option.isNone(settings.agentId))
    }))

  it.effect("bad values fail with the variable's name", () =>
    Effect.gen(function*() {
      const badUrl = yield* Effect.flip(read({ LETTA_BASE_URL: "localhost:8283" }))
      assert.include(String(badUrl), "LETTA_BASE_URL")
      const credentials = yield* Effect.flip(read({ LETTA_BASE_URL: "https://user:pw@letta.example" }))
      assert.include(String(credentials), "without credentials")
      const badMode = yield* Effect.flip(read({ LETTA_MODE: "turbo" }))
      assert.include(String(badMode), "LETTA_MODE")
      const badRetries = yield* Effect.flip(read({ LETTA_RETRIES: "-1" }))
      assert.include(String(badRetries), "LETTA_RETRIES")
      const badDuration = yield* Effect.flip(read({ LETTA_IDLE_TIMEOUT: "soon" }))
      assert.include(String(badDuration), "LETTA_IDLE_TIMEOUT")
    }))

  it.effect("the backend follows the URL's scheme unless LETTA_BACKEND names it; mismatches fail", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* read({})).backend, "rest")
      assert.strictEqual((yield* read({ LETTA_BASE_URL: "ws://127.0.0.1:4500" })).backend, "app-server")
      assert.strictEqual((yield* read({ LETTA_BASE_URL: "wss://letta.example/ws" })).backend, "app-server")
      const explicit = yield* read({ LETTA_BACKEND: "app-server", LETTA_BASE_URL: "ws://127.0.0.1:4500" })
      assert.strictEqual(explicit.backend, "app-server")
      const mismatch = yield* Effect.flip(read({ LETTA_BACKEND: "app-server", LETTA_BASE_URL: "http://localhost:8283" }))
      assert.include(String(mismatch), "LETTA_BACKEND=app-server needs a ws://")
      const unknown = yield* Effect.flip(read({ LETTA_BACKEND: "grpc" }))
      assert.include(String(unknown), "LETTA_BACKEND")
    }))

  it.effect("App Server settings it cannot honour are refused, naming the variable", () =>
    Effect.gen(function*() {
      const password = yield* Effect.flip(read({ LETTA_BASE_URL: "ws://127.0.0.1:4500", LETTA_PASSWORD: "hunter2-app" }))
      assert.include(String(password), "LETTA_PASSWORD is for REST servers")
      assert.notInclude(String(password), "hunter2-app")
      const poll = yield* Effect.flip(read({ LETTA_BASE_URL: "ws://127.0.0.1:4500", LETTA_MODE: "poll" }))
      assert.include(String(poll), "LETTA_MODE=poll needs the REST API")
      // the same settings are fine for REST
      assert.strictEqual((yield* read({ LETTA_PASSWORD: "pw", LETTA_MODE: "poll" })).mode, "poll")
    }))

  it.effect("secrets never show when the settings are printed or logged", () =>
    Effect.gen(function*() {
      const settings = yield* read({ LETTA_API_KEY: "sk-let-very-secret", LETTA_PASSWORD: "hunter2" })
      const printed = `${Inspectable.format(settings)} ${String(settings.apiKey)} ${JSON.stringify(settings)}`
      assert.notInclude(printed, "sk-let-very-secret")
      assert.notInclude(printed, "hunter2")
    }))

  it.effect("a base URL ending in /v1 is the server's address: /v1 and trailing slashes are dropped, the /v1 logged", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const capture = Logger.add(Logger.make(({ message }) => void logs.push(String(message))))
      for (const [given, expected] of [
        ["http://localhost:8283/v1", "http://localhost:8283"],
        ["http://localhost:8283/v1/", "http://localhost:8283"],
        ["https://api.letta.com/V1//", "https://api.letta.com"],
        ["https://letta.example/proxy/v1", "https://letta.example/proxy"],
        ["http://localhost:8283/", "http://localhost:8283"],
        // an App Server's WebSocket URL is taken as given (its path is its own)
        ["ws://127.0.0.1:4500/v1", "ws://127.0.0.1:4500/v1"]
      ] as const) {
        logs.length = 0
        const settings = yield* read({ LETTA_BASE_URL: given }).pipe(Effect.provide(capture))
        assert.strictEqual(settings.baseUrl, expected, given)
        const said = logs.filter((line) => line.startsWith("LETTA_BASE_URL: dropped the trailing /v1"))
        assert.strictEqual(said.length, /\/v1\/*$/i.test(given) && expected !== given ? 1 : 0, given)
      }
      assert.strictEqual(LettaConfig.make({ baseUrl: "http://localhost:8283/v1/" }).baseUrl, "http://localhost:8283")
    }))

  it.effect("with LETTA_BASE_URL ending in /v1, a turn reaches /v1/agents/…, not /v1/v1/…", () =>
    Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      const messages = yield* Stream.runCollect(
        client.streamMessage(Letta.agentId, { messages: [{ role: "user", content: "Hello" }], stream_tokens: true })
      )
      assert.strictEqual(Chunk.size(messages), 3)
      assert.deepStrictEqual((yield* Mock.recorded).map((request) => request.url), [
        `/v1/agents/${Letta.agentId}/messages/stream`
      ])
    }).pipe(Effect.provide(LettaClient.layer.pipe(
      // a Letta: its API under /v1 only; FastAPI's bare 404 for any other path
      Layer.provideMerge(Mock.layer((request) =>
        request.url.startsWith("/v1/v1/")
          ? Mock.json({ detail: "Not Found" }, 404)
          : Mock.sse([Mock.frames(Letta.ping, Letta.assistant("Hi"), Letta.stopReason(), "[DONE]")])
      )),
      Layer.provideMerge(Layer.effect(LettaConfig.LettaConfig, read({ LETTA_BASE_URL: `${Mock.baseUrl}/v1` })))
    ))))
})
