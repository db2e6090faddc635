/**
 * Configuration that fails early and says why: an empty variable is unset (every LETTA_* and PIPELINE_* setting of
 * core), and each configuration error reads as one line naming the variable and the expected form.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Config, ConfigError, ConfigProvider, Effect, Option } from "effect"
import { EnvConfig, LettaConfig } from "../src/index.js"

const provider = (env: Record<string, string>) => ConfigProvider.fromMap(new Map(Object.entries(env)))

const read = (env: Record<string, string>) => Effect.withConfigProvider(LettaConfig.config, provider(env))

/** What `String(error)` of the failure is replaced by: the one line users see. */
const failure = (env: Record<string, string>) => Effect.map(Effect.flip(read(env)), EnvConfig.describe)

/** Every variable `LettaConfig.config` reads (the module docs' table). */
const lettaVariables = [
  "PIPELINE_NAME",
  "LETTA_BASE_URL",
  "LETTA_BACKEND",
  "LETTA_API_KEY",
  "LETTA_PASSWORD",
  "LETTA_AGENT_ID",
  "LETTA_CONNECT_TIMEOUT",
  "LETTA_FIRST_EVENT_TIMEOUT",
  "LETTA_IDLE_TIMEOUT",
  "LETTA_TURN_TIMEOUT",
  "LETTA_CA_FILE",
  "LETTA_TLS_INSECURE",
  "LETTA_STREAM_TOKENS",
  "LETTA_MODE",
  "LETTA_POLL_INTERVAL",
  "LETTA_RETRIES",
  "PIPELINE_IMAGE_URL_HOSTS",
  "LETTA_BUSY_WAIT"
]

describe("empty variables are unset", () => {
  it.effect("every LettaConfig variable, empty or blank, gives the default", () =>
    Effect.gen(function*() {
      const defaults = yield* read({})
      for (const blank of ["", "   "]) {
        for (const name of lettaVariables) {
          assert.deepStrictEqual(yield* read({ [name]: blank }), defaults, `${name}=${JSON.stringify(blank)}`)
        }
        assert.deepStrictEqual(yield* read(Object.fromEntries(lettaVariables.map((name) => [name, blank]))), defaults)
      }
    }))

  it.effect("whatever the provider: flags in front of an environment that has the empty variable", () =>
    Effect.gen(function*() {
      const flagsThenEnv = provider({ LETTA_AGENT_ID: "agent-x" }).pipe(
        ConfigProvider.orElse(() => provider({ LETTA_BASE_URL: "", LETTA_MODE: "" }))
      )
      const settings = yield* Effect.withConfigProvider(LettaConfig.config, flagsThenEnv)
      assert.strictEqual(settings.baseUrl, "http://localhost:8283")
      assert.strictEqual(settings.mode, "stream")
      assert.deepStrictEqual(settings.agentId, Option.some("agent-x"))
    }))

  it.effect("EnvConfig.load: an empty required variable is missing, not invalid; a set one is read as is", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(Effect.withConfigProvider(EnvConfig.load(Config.integer("PORT")), provider({ PORT: "" })))
      assert.isTrue(ConfigError.isMissingDataOnly(missing))
      assert.strictEqual(EnvConfig.describe(missing), "PORT: empty (counts as unset)")
      const set = yield* Effect.withConfigProvider(EnvConfig.load(Config.string("NAME")), provider({ NAME: " Milo " }))
      assert.strictEqual(set, " Milo ")
    }))
})

describe("configuration errors in one line", () => {
  it.effect("each names the variable, the expected form and what it got", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
        [{ LETTA_MODE: "fast" }, "LETTA_MODE: expected \"stream\" or \"poll\", got \"fast\""],
        [{ LETTA_TLS_INSECURE: "maybe" }, "LETTA_TLS_INSECURE: expected true or false, got \"maybe\""],
        [
          { LETTA_IDLE_TIMEOUT: "soon" },
          "LETTA_IDLE_TIMEOUT: expected a number of seconds (30) or a duration (\"30 seconds\", \"500 millis\"), got \"soon\""
        ],
        [{ LETTA_POLL_INTERVAL: "-1" }, "LETTA_POLL_INTERVAL: expected a non-negative number of seconds, got \"-1\""],
        [{ LETTA_RETRIES: "x" }, "LETTA_RETRIES: expected a whole number, got \"x\""],
        [{ LETTA_RETRIES: "11" }, "LETTA_RETRIES: expected a whole number from 0 to 10"],
        [
          { LETTA_BASE_URL: "localhost:8283" },
          "LETTA_BASE_URL: expected an http(s):// URL (or ws(s):// for an App Server), e.g. http://localhost:8283, got \"localhost:8283\""
        ],
        [
          { LETTA_BASE_URL: "https://user:hunter2@letta.example" },
          "LETTA_BASE_URL: expected a URL without credentials (user:password@); put them in LETTA_API_KEY or LETTA_PASSWORD"
        ],
        [
          { LETTA_BACKEND: "app-server" },
          "LETTA_BACKEND=app-server needs a ws:// or wss:// LETTA_BASE_URL, and rest an http(s):// one"
        ],
        // several at once: every one, in one line
        [
          { LETTA_MODE: "fast", LETTA_RETRIES: "x" },
          "LETTA_MODE: expected \"stream\" or \"poll\", got \"fast\"; LETTA_RETRIES: expected a whole number, got \"x\""
        ]
      ]
      for (const [env, expected] of cases) {
        const line = yield* failure(env)
        assert.strictEqual(line, expected, JSON.stringify(env))
        assert.notInclude(line, "\n")
        assert.notInclude(line, "Invalid data")
        assert.notInclude(line, "Expected")
        assert.notInclude(line, "hunter2")
      }
    }))

  it("Effect's other shapes: missing data, alternatives, unreadable sources", () => {
    assert.strictEqual(
      EnvConfig.describe(ConfigError.MissingData(["LETTA_X"], "Expected LETTA_X to exist in the process context")),
      "LETTA_X: not set"
    )
    // a provider in front of another: the first one's "missing" is not the problem
    assert.strictEqual(
      EnvConfig.describe(ConfigError.Or(
        ConfigError.MissingData(["PORT"], "Expected PORT to exist in the provided map"),
        ConfigError.InvalidData(["PORT"], "Expected a network port value but received \"abc\"")
      )),
      "PORT: expected a port number from 1 to 65535, got \"abc\""
    )
    assert.strictEqual(
      EnvConfig.describe(ConfigError.InvalidData(["LETTA_CA_FILE"], "Cannot read /etc/ca.pem: not found")),
      "LETTA_CA_FILE: Cannot read /etc/ca.pem: not found"
    )
    assert.strictEqual(
      EnvConfig.describe(ConfigError.SourceUnavailable(["SECRETS"], "vault sealed", Cause.empty)),
      "SECRETS: cannot be read: vault sealed"
    )
  })
})
