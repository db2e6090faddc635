/**
 * The server's settings: every variable empty means unset, and a wrong one is one line naming it and the expected form.
 */
import { assert, describe, it } from "@effect/vitest"
import { EnvConfig } from "@letta-pipeline/core"
import { ConfigError, ConfigProvider, Effect } from "effect"
import { ServerConfig } from "../src/index.js"

describe("ServerConfig", () => {
  const read = (env: Record<string, string>) =>
    Effect.withConfigProvider(ServerConfig.config, ConfigProvider.fromMap(new Map(Object.entries(env))))

  const variables = [
    "PIPELINE_API_KEY",
    "PIPELINE_ID",
    "PIPELINE_CORS_ORIGINS",
    "PIPELINE_ALLOWED_HOSTS",
    "PIPELINE_MAX_BODY",
    "PIPELINE_HEARTBEAT",
    "PIPELINE_FIRST_EVENT_WAIT",
    "PIPELINE_SHUTDOWN_GRACE",
    "PIPELINE_STATUS_EVENTS",
    "PIPELINE_AGENT_TAGS",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "PIPELINE_STATELESS_CHATS",
    "PIPELINE_TOOL_RESULT_MAX",
    "PIPELINE_OPENWEBUI_TOOL_CALLS",
    "PIPELINE_WS_MAX_SOCKETS",
    "PIPELINE_WS_IDLE_TIMEOUT",
    "PIPELINE_WS_PING_INTERVAL"
  ]

  it.effect("every variable, empty or blank, is unset: the defaults", () =>
    Effect.gen(function*() {
      for (const blank of ["", "  "]) {
        for (const name of variables) assert.deepStrictEqual(yield* read({ [name]: blank }), ServerConfig.defaults, name)
      }
    }))

  it.effect("errors are one line naming the variable and the expected form", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
        [{ PIPELINE_MAX_BODY: "lots" }, "PIPELINE_MAX_BODY: expected a whole number, got \"lots\""],
        [{ PIPELINE_MAX_BODY: "0" }, "PIPELINE_MAX_BODY: expected a number of bytes, at least 1"],
        [{ PIPELINE_STATUS_EVENTS: "maybe" }, "PIPELINE_STATUS_EVENTS: expected \"on\", \"off\" or \"auto\", got \"maybe\""],
        [
          { PIPELINE_HEARTBEAT: "often" },
          "PIPELINE_HEARTBEAT: expected a number of seconds (30) or a duration (\"30 seconds\", \"500 millis\"), got \"often\""
        ],
        [{ PIPELINE_WS_IDLE_TIMEOUT: "0" }, "PIPELINE_WS_IDLE_TIMEOUT: expected a number of seconds above 0"]
      ]
      for (const [env, expected] of cases) {
        const error = yield* Effect.flip(read(env))
        assert.isTrue(ConfigError.isConfigError(error))
        assert.strictEqual(EnvConfig.describe(error), expected)
      }
    }))
})
