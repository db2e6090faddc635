/**
 * The built `letta-pipeline` as a real process against an emulator: stdout, stderr and exit codes of every command.
 */
import { Command as Process } from "@effect/platform"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import { LettaSchema, StreamEvent } from "@letta-pipeline/core"
import { Emulator } from "@letta-pipeline/emulator"
import { Duration, Effect, Layer, Option, Redacted, Schedule, Schema } from "effect"
import { readFileSync } from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { cleanEnv, main, runCli, start, startAndWait } from "./utils/cli.js"

const env = Effect.map(Emulator.Emulator, (emulator) => ({
  LETTA_BASE_URL: emulator.url,
  LETTA_AGENT_ID: emulator.demoAgent.id
}))

const decodeEvent = Schema.decodeUnknownSync(StreamEvent.StreamEventJson)
const decodeAgents = Schema.decodeUnknownSync(Schema.parseJson(LettaSchema.AgentList))

/** Exactly one line, no stack trace. */
const oneLine = (stderr: string) => {
  const lines = stderr.trim().split("\n")
  assert.strictEqual(lines.length, 1, stderr)
  assert.notMatch(stderr, /\n\s+at /)
  return lines[0] ?? ""
}

// a few milliseconds per delta, so that a turn lasts long enough for doctor to tell a buffered stream
const Live = Layer.mergeAll(Emulator.layer({ tokenDelay: Duration.millis(8) }), NodeContext.layer, NodeHttpClient.layerUndici)

layer(Live, { excludeTestServices: true })("letta-pipeline", (it) => {
  describe("conventions", () => {
    it.effect("--version, and --help on every command", () =>
      Effect.gen(function*() {
        const version = yield* runCli(["--version"])
        assert.strictEqual(version.code, 0)
        assert.strictEqual(version.stdout.trim(), "0.1.0")
        for (const command of ["chat", "agents", "users", "serve", "emulator", "doctor"]) {
          const help = yield* runCli([command, "--help"])
          assert.strictEqual(help.code, 0, command)
          assert.include(help.stdout, `$ ${command}`)
          assert.notInclude(help.stdout, "\x1b[")
          assert.include(help.stdout, "USAGE")
          // every option says what it is for, not only its type
          assert.notInclude(help.stdout, "A user-defined piece of text")
        }
      }), { timeout: 90_000 })

    it.effect("an unknown option is named, with where to look; exit 2", () =>
      Effect.gen(function*() {
        for (const [command, args] of [["chat", ["--foo", "hi"]], ["agents", ["--agent=x"]], ["doctor", ["--fix"]]] as const) {
          const ran = yield* runCli([command, ...args], { env: yield* env })
          assert.strictEqual(ran.code, 2, ran.stderr)
          const option = (args[0] ?? "").split("=")[0] ?? ""
          assert.include(ran.stderr, `Unknown option ${option} for \`letta-pipeline ${command}\``)
          assert.include(ran.stderr, `\`letta-pipeline ${command} --help\` lists its options`)
        }
        // a message that starts with -- goes after --
        const literal = yield* runCli(["chat", "--", "--not-an-option"], { env: yield* env })
        assert.strictEqual(literal.code, 0, literal.stderr)
        assert.include(literal.stdout, `You said: "--not-an-option"`)
      }))

    it.effect("usage and configuration errors exit 2", () =>
      Effect.gen(function*() {
        const badPort = yield* runCli(["serve", "--port", "abc"])
        assert.strictEqual(badPort.code, 2)
        const badUrl = yield* runCli(["agents"], { env: { LETTA_BASE_URL: "ftp://letta" } })
        assert.strictEqual(badUrl.code, 2)
        assert.include(oneLine(badUrl.stderr), "LETTA_BASE_URL")
        // a wrong variable is one line naming it and what it should be, never Effect's rendering
        const badEnvPort = yield* runCli(["serve"], { env: { PORT: "abc" } })
        assert.strictEqual(badEnvPort.code, 2)
        assert.strictEqual(badEnvPort.stderr.trim(), `Configuration error: PORT: expected a whole number, got "abc"`)
      }))

    it.effect("a Letta failure exits 1 with one line naming the cause", () =>
      Effect.gen(function*() {
        const missing = "agent-00000000-0000-4000-8000-000000000000"
        const ran = yield* runCli(["chat", "hello", "--agent", missing], { env: yield* env })
        assert.strictEqual(ran.code, 1)
        assert.strictEqual(ran.stdout, "")
        const line = oneLine(ran.stderr)
        assert.include(line, `Agent with ID ${missing} not found`)
        const down = yield* runCli(["agents"], { env: { LETTA_BASE_URL: "http://127.0.0.1:9" } })
        assert.strictEqual(down.code, 1)
        assert.include(oneLine(down.stderr), "Cannot reach Letta")
      }))
  })

  describe("chat", () => {
    it.effect("a run that fails only by its stop reason: the text so far, then exit 1 with one line naming it", () =>
      Effect.gen(function*() {
        const ran = yield* runCli(["chat", "Hello [[fault:stop:llm_api_error]]"], { env: yield* env })
        assert.strictEqual(ran.code, 1)
        assert.include(ran.stdout, "You said: \"Hello\"")
        const line = ran.stderr.trim().split("\n").at(-1) ?? ""
        assert.include(line, "stop reason llm_api_error")
        assert.notMatch(ran.stderr, /\n\s+at /)
        const json = yield* runCli(["chat", "Hello [[fault:stop:no_tool_call]]", "--json"], { env: yield* env })
        assert.strictEqual(json.code, 1)
        const last = decodeEvent(json.stdout.trim().split("\n").at(-1) ?? "")
        assert.isTrue(last.type === "error" && last.data.reason === "RunFailed")
      }))

    it.effect("a tool call without its return is shown as not run; reasoning messages do not run together", () =>
      Effect.gen(function*() {
        const ran = yield* runCli(["chat", "search for lisbon [[fault:stop:max_steps]]"], { env: yield* env })
        assert.strictEqual(ran.code, 0)
        assert.include(ran.stdout, "→ web_search {\"query\":\"lisbon\"}\n")
        assert.include(ran.stdout, "← Not run: the turn ended before Letta returned a result (stop reason max_steps)")
        const tool = yield* runCli(["chat", "search for lisbon"], { env: yield* env })
        assert.include(tool.stderr, "I will call web_search.\n\nweb_search returned 3 results")
      }))

    it.effect("streams the answer to stdout, tool calls as compact lines, reasoning to stderr when piped, no colours", () =>
      Effect.gen(function*() {
        const ran = yield* runCli(["chat", "please search for jasmine tea"], { env: yield* env })
        assert.strictEqual(ran.code, 0)
        assert.include(ran.stdout, "→ web_search {\"query\":\"jasmine tea\"}\n")
        assert.include(ran.stdout, "← success: Found 3 results for \"jasmine tea\"")
        assert.include(ran.stdout, "I searched for \"jasmine tea\"")
        assert.notInclude(ran.stdout, "\x1b[")
        assert.include(ran.stderr, "The user wants me to search for \"jasmine tea\"")
        assert.notInclude(ran.stdout, "The user wants me")
      }))

    it.effect("--no-reasoning hides it; --usage prints the tokens", () =>
      Effect.gen(function*() {
        const ran = yield* runCli(["chat", "quiet please", "--no-reasoning", "--usage"], { env: yield* env })
        assert.strictEqual(ran.code, 0)
        assert.notInclude(ran.stderr, "The user said")
        assert.match(ran.stderr, /usage: \d+ prompt \+ \d+ completion = \d+ tokens, 1 steps/)
        assert.include(ran.stdout, "You said: \"quiet please\"")
      }))

    it.effect("--json writes one StreamEvent per line and nothing else", () =>
      Effect.gen(function*() {
        const ran = yield* runCli(["chat", "as json", "--json"], { env: yield* env })
        assert.strictEqual(ran.code, 0)
        const events = ran.stdout.trimEnd().split("\n").map((line) => decodeEvent(line))
        assert.strictEqual(events.at(-1)?.type, "done")
        assert.isTrue(events.some((e) => e.type === "reasoning"))
        assert.isTrue(events.some((e) => e.type === "message"))
        const failed = yield* runCli(["chat", "x", "--json", "--agent", "agent-00000000-0000-4000-8000-000000000000"], {
          env: yield* env
        })
        assert.strictEqual(failed.code, 1)
        const error = decodeEvent(failed.stdout.trim())
        assert.strictEqual(error.type === "error" && error.data.reason, "NotFound")
      }))

    it.effect("piped stdin is the message", () =>
      Effect.gen(function*() {
        const ran = yield* runCli(["chat"], { env: yield* env, stdin: "from the pipe\n" })
        assert.strictEqual(ran.code, 0)
        assert.include(ran.stdout, "You said: \"from the pipe\"")
      }))

    it.effect("--agent takes a name as the server's model does; no such name, or two agents with it, are named", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const { LETTA_BASE_URL } = yield* env
        const byName = yield* runCli(["chat", "by name", "--agent", "demo-agent"], { env: { LETTA_BASE_URL } })
        assert.strictEqual(byName.code, 0, byName.stderr)
        assert.include(byName.stdout, "I am demo-agent")
        const nobody = yield* runCli(["chat", "x", "--agent", "nobody"], { env: { LETTA_BASE_URL } })
        assert.strictEqual(nobody.code, 1)
        assert.include(oneLine(nobody.stderr), `no agent is named "nobody" on the Letta at ${LETTA_BASE_URL}; \`letta-pipeline agents\` lists`)
        const twins = yield* Effect.all([0, 1].map(() => emulator.store.createAgent({ name: "twin" })))
        const ambiguous = yield* runCli(["chat", "x", "--agent", "twin"], { env: { LETTA_BASE_URL } })
        assert.strictEqual(ambiguous.code, 1)
        assert.include(oneLine(ambiguous.stderr), `2 agents are named "twin" (`)
        assert.include(oneLine(ambiguous.stderr), "): pass the id instead")
        for (const twin of twins) assert.include(ambiguous.stderr, twin.id)
        yield* Effect.forEach(twins, (twin) => emulator.store.deleteAgent(twin.id))
      }))

    it.effect("with no Letta named (LETTA_BASE_URL unset or empty), every command uses the built-in emulator and says so", () =>
      Effect.gen(function*() {
        for (const extra of [{}, { LETTA_BASE_URL: "" }, { LETTA_BASE_URL: "  " }]) {
          const chat = yield* runCli(["chat", "offline"], { env: extra })
          assert.strictEqual(chat.code, 0, chat.stderr)
          assert.include(chat.stderr, "LETTA_BASE_URL is not set: using the built-in emulated Letta")
          assert.include(chat.stdout, `You said: "offline". I am demo-agent`)
        }
        const agents = yield* runCli(["agents", "--json"])
        assert.strictEqual(agents.code, 0, agents.stderr)
        // the demo agent's id is the same in every run
        assert.deepStrictEqual((JSON.parse(agents.stdout) as ReadonlyArray<{ id: string; name: string }>).map((a) => [a.id, a.name]), [[
          "agent-a1b2c3d4-0000-4000-8000-000000000001",
          "demo-agent"
        ]])
        const doctor = yield* runCli(["doctor", "--skip-stream"])
        assert.strictEqual(doctor.code, 0, doctor.stdout)
        assert.include(doctor.stdout, "✓ configuration: the built-in emulated Letta (LETTA_BASE_URL is not set)")
        assert.include(doctor.stdout, "✓ agent: demo-agent (agent-a1b2c3d4-0000-4000-8000-000000000001)")
      }), 60_000) // five runs, each starting its own emulated Letta

    it.effect("--base-url and --agent override the environment", () =>
      Effect.gen(function*() {
        const { LETTA_AGENT_ID, LETTA_BASE_URL } = yield* env
        const ran = yield* runCli(["chat", "flags win", "--base-url", LETTA_BASE_URL, "--agent", LETTA_AGENT_ID], {
          env: { LETTA_BASE_URL: "http://127.0.0.1:9", LETTA_AGENT_ID: "agent-00000000-0000-4000-8000-000000000000" }
        })
        assert.strictEqual(ran.code, 0, ran.stderr)
        assert.include(ran.stdout, "You said: \"flags win\"")
      }))

    it.effect("--conversation continues that thread", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const conversation = yield* emulator.store.createConversation(emulator.demoAgent.id)
        yield* runCli(["chat", "remember plum", "--conversation", conversation.id], { env: yield* env })
        const ran = yield* runCli(["chat", "what fruit?", "--conversation", conversation.id], { env: yield* env })
        assert.include(ran.stdout, "Before that you said: \"remember plum\"")
      }))
  })

  describe("agents", () => {
    it.effect("a table, or JSON", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const table = yield* runCli(["agents"], { env: yield* env })
        assert.strictEqual(table.code, 0)
        const [header, ...rows] = table.stdout.trimEnd().split("\n")
        assert.match(header ?? "", /^ID\s+NAME\s+TAGS\s+DESCRIPTION$/)
        assert.isTrue(rows.some((row) => row.startsWith(emulator.demoAgent.id) && row.includes("demo-agent")))
        const json = yield* runCli(["agents", "--json"], { env: yield* env })
        assert.isTrue(decodeAgents(json.stdout).some((agent) => agent.id === emulator.demoAgent.id))
      }))
  })

  describe("doctor", () => {
    it.effect("all checks pass against a healthy Letta", () =>
      Effect.gen(function*() {
        const ran = yield* runCli(["doctor"], { env: yield* env })
        assert.strictEqual(ran.code, 0, ran.stdout + ran.stderr)
        for (const check of ["configuration", "reachable", "credentials", "agent", "streaming: unbuffered"]) {
          assert.match(ran.stdout, new RegExp(`^✓ ${check}`, "m"))
        }
      }))

    it.effect("an unreachable Letta fails with what to fix", () =>
      Effect.gen(function*() {
        const ran = yield* runCli(["doctor"], { env: { LETTA_BASE_URL: "http://127.0.0.1:9" } })
        assert.strictEqual(ran.code, 1)
        assert.match(ran.stdout, /^✗ reachable: Cannot reach Letta/m)
        assert.include(ran.stdout, "fix: start Letta (e.g. docker run -p 8283:8283 letta/letta) or point LETTA_BASE_URL at it (now http://127.0.0.1:9)")
        assert.include(oneLine(ran.stderr), "1 check failed")
      }))

    it.effect("a proxy that buffers the stream is detected", () =>
      Effect.gen(function*() {
        const upstream = (yield* env).LETTA_BASE_URL
        const proxy = yield* bufferingProxy(upstream)
        const ran = yield* runCli(["doctor"], { env: { ...(yield* env), LETTA_BASE_URL: proxy } })
        assert.strictEqual(ran.code, 1, ran.stdout)
        assert.match(ran.stdout, /^✗ streaming: buffered \(\d+ frames/m)
        assert.include(ran.stdout, "proxy_buffering off")
      }).pipe(Effect.scoped))
  })

  describe("serve and emulator", () => {
    it.effect("PORT from the environment when --port is absent", () =>
      Effect.gen(function*() {
        const url = yield* startAndWait(["emulator"], { PORT: "0" })
        assert.notMatch(url, /:8283$/)
      }).pipe(Effect.scoped))

    it.effect("both listen where --port says, on 127.0.0.1 by default", () =>
      Effect.gen(function*() {
        for (const args of [["emulator", "--port", "0"], ["serve", "--port", "0"]]) {
          const url = yield* startAndWait(args, yield* env)
          assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
          const health = yield* fetchText(`${url}${args[0] === "emulator" ? "/v1/health/" : "/health"}`)
          assert.include(health, "ok")
        }
      }).pipe(Effect.scoped))

    // an idle replica should cost nothing: prom-client's event-loop lag sampling at its default 10 ms woke it 100 times a
    // second. The main thread's voluntary context switches (Linux) count how often it left epoll_wait.
    it.effect.skipIf(process.platform !== "linux")("an idle server wakes about ten times a second, not a hundred", () =>
      Effect.gen(function*() {
        const server = yield* start(["serve", "--port", "0"], yield* env)
        yield* Effect.timeout(server.listening, Duration.seconds(30))
        const switches = () => {
          const status = readFileSync(`/proc/${server.pid}/status`, "utf8")
          return Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? Number.NaN)
        }
        // the window is what is measured, not a wait for something to happen
        const before = switches()
        yield* Effect.sleep(Duration.seconds(3))
        const perSecond = (switches() - before) / 3
        assert.isBelow(perSecond, 40, `${perSecond} wakeups a second`)
      }).pipe(Effect.scoped))
  })

  describe("Ctrl-C", () => {
    it.effect("aborts the upstream call and exits 130", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const before = yield* emulator.stats.snapshot
        const process_ = yield* Process.make("node", main, "chat", "a long answer [[fault:stall]]").pipe(
          Process.env({ ...cleanEnv(), ...(yield* env) }),
          Process.feed(""),
          Process.start
        )
        yield* emulator.stats.snapshot.pipe(
          Effect.filterOrFail((s) => s.active_streams > before.active_streams),
          Effect.retry(Schedule.spaced("20 millis")),
          Effect.timeout(Duration.seconds(20))
        )
        yield* process_.kill("SIGINT")
        assert.strictEqual(yield* process_.exitCode, 130)
        const after = yield* emulator.stats.snapshot.pipe(
          Effect.filterOrFail((s) => s.client_closed_streams > before.client_closed_streams),
          Effect.retry(Schedule.spaced("20 millis")),
          Effect.timeout(Duration.seconds(5))
        )
        assert.strictEqual(after.active_streams, before.active_streams)
      }).pipe(Effect.scoped))
  })
})

// -- helpers ----------------------------------------------------------------------------------------------------------

const fetchText = (url: string) =>
  Effect.tryPromise(() => fetch(url).then((response) => response.text()))

/** A reverse proxy that holds the whole upstream answer back and sends it at once (like nginx with buffering). */
const bufferingProxy = (upstream: string) =>
  Effect.acquireRelease(
    Effect.async<http.Server>((resume) => {
      const target = new URL(upstream)
      const server = http.createServer((request, response) => {
        const forward = http.request(
          { host: target.hostname, port: target.port, path: request.url, method: request.method, headers: request.headers },
          (answer) => {
            const chunks: Array<Buffer> = []
            answer.on("data", (chunk: Buffer) => chunks.push(chunk))
            answer.on("end", () => {
              response.writeHead(answer.statusCode ?? 502, answer.headers)
              response.end(Buffer.concat(chunks))
            })
          }
        )
        request.pipe(forward)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))

const Secured = Layer.mergeAll(
  Emulator.layer({ password: Option.some(Redacted.make("s3cret")) }),
  NodeContext.layer,
  NodeHttpClient.layerUndici
)

layer(Secured, { excludeTestServices: true })("letta-pipeline against a --secure Letta", (it) => {
  it.effect("--password (or --api-key) authenticates; without it, exit 1 naming the setting", () =>
    Effect.gen(function*() {
      const refused = yield* runCli(["agents"], { env: yield* env })
      assert.strictEqual(refused.code, 1)
      assert.include(oneLine(refused.stderr), "LETTA_PASSWORD")
      const withPassword = yield* runCli(["agents", "--password", "s3cret"], { env: yield* env })
      assert.strictEqual(withPassword.code, 0)
      const withKey = yield* runCli(["agents", "--api-key", "s3cret"], { env: yield* env })
      assert.strictEqual(withKey.code, 0)
      const doctor = yield* runCli(["doctor", "--skip-stream"], { env: yield* env })
      assert.match(doctor.stdout, /^✗ credentials: /m)
      assert.include(doctor.stdout, "fix: set LETTA_API_KEY (Letta Cloud, or a key your server accepts) or LETTA_PASSWORD")
    }), { timeout: 90_000 })
})
