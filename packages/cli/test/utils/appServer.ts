/**
 * The real Letta App Server (`.cache/app-server`, installed by `scripts/install-app-server.mjs` from the tests' global
 * setup, `test/globalSetup.ts`), run offline on 127.0.0.1 against the project's stub LLM, with its own HOME, for one
 * test file.
 */
import { Command, HttpClient } from "@effect/platform"
import { Duration, Effect, Schedule } from "effect"
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { cleanEnv, freePort } from "./cli.js"

export const entry = resolve(
  fileURLToPath(new URL("../../../../.cache/app-server/node_modules/@letta-ai/letta-code/letta.js", import.meta.url))
)

export interface AppServer {
  readonly ws: string
  readonly http: string
  readonly agentId: string
}

/** Quiet, offline, isolated: what the App Server needs in its environment. */
export const appServerEnv = (home: string) => ({
  ...cleanEnv(),
  HOME: home,
  LETTA_CODE_TELEM: "0",
  DO_NOT_TRACK: "1",
  DISABLE_AUTOUPDATER: "1",
  SCARF_ANALYTICS: "false"
})

/** A folder for the App Server: HOME, and `work` with `hello.txt` for the stub's `Read` call. */
export const prepare = (home: string) => {
  mkdirSync(join(home, "work"), { recursive: true })
  writeFileSync(join(home, "work", "hello.txt"), "hello file content\n")
  return { work: join(home, "work"), file: join(home, "work", "hello.txt") }
}

/** Starts the App Server with capability-token auth: clients must send `Authorization: Bearer <token>`. */
export const startAppServer = (home: string, llmUrl: string, token: string) =>
  Effect.gen(function*() {
    if (!existsSync(entry)) {
      return yield* Effect.fail(new Error("the Letta App Server is not installed: see the global setup's warning, or run node scripts/install-app-server.mjs"))
    }
    const env = appServerEnv(home)
    const letta = (...args: ReadonlyArray<string>) =>
      Command.make("node", entry, "--backend", "local", ...args).pipe(Command.env(env), Command.workingDirectory(join(home, "work")))
    const connected = yield* Command.exitCode(letta("connect", "openai-compatible", "--base-url", llmUrl, "--api-key", "sk-stub"))
    if (connected !== 0) return yield* Effect.fail(new Error("letta connect failed"))
    const created = yield* Command.string(
      letta("agents", "create", "--name", "pipeline-test", "--model", "openai-compatible/stub-model", "--personality", "blank")
    )
    const agentId = /"id":\s*"(agent-local-[0-9a-f-]+)"/.exec(created)?.[1]
    if (agentId === undefined) return yield* Effect.fail(new Error(`no agent id in: ${created.slice(0, 500)}`))
    const port = yield* freePort
    const tokenFile = join(home, "ws-token")
    writeFileSync(tokenFile, token, { mode: 0o600 })
    yield* Command.start(
      letta("server", "--listen", `ws://127.0.0.1:${port}`, "--openai-api", "--ws-auth", "capability-token", "--ws-token-file", tokenFile)
    )
    const http = `http://127.0.0.1:${port}`
    yield* Effect.flatMap(HttpClient.HttpClient, (client) => client.get(`${http}/healthz`)).pipe(
      Effect.flatMap((response) => response.text),
      Effect.filterOrFail((text) => text.trim() === "ok"),
      Effect.retry(Schedule.spaced("100 millis")),
      Effect.scoped,
      Effect.timeoutFail({ duration: Duration.seconds(60), onTimeout: () => new Error("the App Server did not start") })
    )
    return { ws: `ws://127.0.0.1:${port}`, http, agentId } satisfies AppServer
  })
