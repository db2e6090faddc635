/**
 * The real Open WebUI (PyPI `open-webui`, pinned), installed into a venv outside the repository by
 * `scripts/install-openwebui.mjs` and run offline on 127.0.0.1 with a fresh data folder, driven over its own HTTP API
 * (`open_webui/main.py`, `open_webui/routers/{auths,chats,openai}.py` of the pinned release).
 */
import { Command } from "@effect/platform"
import { Duration, Effect, Schedule, Stream } from "effect"
import { execFileSync } from "node:child_process"
import { mkdirSync } from "node:fs"
import * as net from "node:net"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { cleanEnv, freePort } from "./cli.js"

export const openWebUIVersion = "0.12.4"

const installer = resolve(fileURLToPath(new URL("../../../../scripts/install-openwebui.mjs", import.meta.url)))

/** The venv's path, installing it first when this machine has none (its time is printed then). */
export const installOpenWebUI = (): string =>
  execFileSync("node", [installer], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 1_800_000 }).trim()

export const admin = { email: "admin@example.com", password: "Test-Passw0rd!", name: "Test Admin" } as const

export interface OpenWebUI {
  readonly url: string
  /** The admin's session token. */
  readonly token: string
  /** The latest lines Open WebUI wrote (its log), for failure messages. */
  readonly log: () => string
}

/** One connection as Admin Settings → Connections → OpenAI API stores it. */
export interface Connection {
  readonly url: string
  readonly key: string
  /** Open WebUI's "Prefix ID": its model ids become `<prefix>.<id>`, so that two connections to one server differ. */
  readonly prefix: string
}

const tail = (lines: ReadonlyArray<string>, count: number) => lines.slice(-count).join("\n")

/**
 * Starts Open WebUI with a fresh data folder under `dataDir`, offline (no version check, no telemetry, Ollama off,
 * retrieval bypassed), waits until `/ready` answers, then signs in as the admin it created from the environment. Fails
 * with its last log lines when it exits or is not ready within 4 minutes. Stopped with the scope.
 */
export const startOpenWebUI = (dataDir: string, extraEnv: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const venv = installOpenWebUI()
    const port = yield* freePort
    const data = join(dataDir, "data")
    mkdirSync(data, { recursive: true })
    const env: Record<string, string> = {
      ...cleanEnv(),
      DATA_DIR: data,
      WEBUI_SECRET_KEY: `secret-${port}-${Date.now()}`,
      WEBUI_ADMIN_EMAIL: admin.email,
      WEBUI_ADMIN_PASSWORD: admin.password,
      WEBUI_ADMIN_NAME: admin.name,
      OFFLINE_MODE: "true",
      HF_HUB_OFFLINE: "1",
      ENABLE_VERSION_UPDATE_CHECK: "false",
      ENABLE_OLLAMA_API: "false",
      ENABLE_OPENAI_API: "true",
      OPENAI_API_BASE_URLS: "",
      OPENAI_API_KEYS: "",
      BYPASS_EMBEDDING_AND_RETRIEVAL: "true",
      RAG_EMBEDDING_ENGINE: "openai",
      RAG_EMBEDDING_MODEL: "stub-embed",
      ENABLE_FORWARD_USER_INFO_HEADERS: "true",
      ANONYMIZED_TELEMETRY: "false",
      DO_NOT_TRACK: "true",
      SCARF_NO_ANALYTICS: "true",
      no_proxy: "127.0.0.1,localhost",
      NO_PROXY: "127.0.0.1,localhost",
      ...extraEnv
    }
    const lines: Array<string> = []
    const keep = (line: string) => {
      lines.push(line)
      if (lines.length > 400) lines.splice(0, lines.length - 400)
    }
    const process_ = yield* Command.make(join(venv, "bin", "open-webui"), "serve", "--host", "127.0.0.1", "--port", String(port)).pipe(
      Command.env(env),
      Command.workingDirectory(dataDir),
      Command.start
    )
    for (const output of [process_.stdout, process_.stderr]) {
      yield* output.pipe(Stream.decodeText(), Stream.splitLines, Stream.runForEach((line) => Effect.sync(() => keep(line))), Effect.forkScoped)
    }
    const url = `http://127.0.0.1:${port}`
    const exited = process_.exitCode.pipe(
      Effect.flatMap((code) => Effect.fail(new Error(`Open WebUI exited with code ${code} before it was ready:\n${tail(lines, 60)}`)))
    )
    const ready = Effect.tryPromise(() => fetch(`${url}/ready`)).pipe(
      Effect.filterOrFail((response) => response.ok),
      Effect.retry(Schedule.spaced("250 millis")),
      Effect.orDie
    )
    const started = Date.now()
    yield* Effect.raceFirst(ready, exited).pipe(
      Effect.timeoutFail({
        duration: Duration.minutes(4),
        onTimeout: () => new Error(`Open WebUI was not ready within 4 minutes:\n${tail(lines, 60)}`)
      })
    )
    const readyMs = Date.now() - started
    const signedIn = yield* request<{ token: string }>(url, "", "POST", "/api/v1/auths/signin", {
      email: admin.email,
      password: admin.password
    })
    return { url, token: signedIn.token, log: () => tail(lines, 80), readyMs } satisfies OpenWebUI & { readyMs: number }
  })

/** One call of Open WebUI's API as the signed-in user; a status other than 2xx fails with its body. */
export const request = <A>(url: string, token: string, method: string, path: string, body?: unknown) =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(`${url}${path}`, {
        method,
        signal,
        headers: {
          ...(token === "" ? {} : { authorization: `Bearer ${token}` }),
          ...(body === undefined ? {} : { "content-type": "application/json" })
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      })
      const text = await response.text()
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 2000)}`)
      return (text === "" ? null : JSON.parse(text)) as A
    },
    catch: (error) => (error instanceof Error ? error : new Error(String(error)))
  })

/** The API of one running Open WebUI, as its admin. */
export const api = (webui: OpenWebUI) => {
  const call = <A>(method: string, path: string, body?: unknown) => request<A>(webui.url, webui.token, method, path, body)
  return {
    call,
    /** Replaces the OpenAI API connections (Admin Settings → Connections). */
    setConnections: (connections: ReadonlyArray<Connection>) =>
      call("POST", "/openai/config/update", {
        ENABLE_OPENAI_API: true,
        OPENAI_API_BASE_URLS: connections.map((c) => c.url),
        OPENAI_API_KEYS: connections.map((c) => c.key),
        OPENAI_API_CONFIGS: Object.fromEntries(connections.map((c, i) => [String(i), { enable: true, prefix_id: c.prefix }]))
      }),
    models: call<{ data: ReadonlyArray<{ id: string; name: string; pipeline?: unknown; urlIdx?: number }> }>("GET", "/api/models")
  }
}

/**
 * A TCP relay in front of an HTTP server, between it and Open WebUI. It can play a server that is down (while down,
 * every connection is accepted and closed at once, and the open ones are cut), and it times each streamed chat request
 * as Open WebUI's backend sees it: from the request's first bytes to the first non-empty `reasoning_content` or
 * `content` (the first thing the user sees), and to the first non-empty `content` (the answer's first word).
 */
export const relay = (target: string) =>
  Effect.acquireRelease(
    Effect.async<{
      readonly url: string
      readonly setDown: (down: boolean) => void
      /** Time to the first thing shown, and to the first word of the answer, of every streamed chat request so far (ms). */
      readonly timings: () => ReadonlyArray<{ readonly shown: number; readonly answer: number }>
      readonly server: net.Server
    }>((resume) => {
      const { hostname, port } = new URL(target)
      let down = false
      const open = new Set<net.Socket>()
      const timings: Array<{ shown: number; answer: number }> = []
      const server = net.createServer((client) => {
        if (down) return void client.destroy()
        const upstream = net.connect(Number(port), hostname)
        open.add(client)
        // one request at a time per connection: its start, and whether it streams
        let started = 0
        let shown = 0
        let streamed = false
        client.on("data", (data: Buffer) => {
          const text = data.toString("latin1")
          if (/^(POST|GET) /.test(text)) {
            started = performance.now()
            shown = 0
            streamed = false
          }
          if (/"stream":\s*true/.test(text)) streamed = true
          upstream.write(data)
        })
        upstream.on("data", (data: Buffer) => {
          const text = streamed && started > 0 ? data.toString("utf8") : ""
          if (shown === 0 && /"(reasoning_)?content":"[^"]/.test(text)) shown = performance.now() - started
          if (/"content":"[^"]/.test(text)) {
            timings.push({ shown, answer: performance.now() - started })
            started = 0
          }
          client.write(data)
        })
        client.on("end", () => upstream.end())
        upstream.on("end", () => client.end())
        client.on("close", () => open.delete(client))
        client.on("error", () => upstream.destroy())
        upstream.on("error", () => client.destroy())
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address() as net.AddressInfo
        resume(Effect.succeed({
          url: `http://127.0.0.1:${address.port}`,
          server,
          timings: () => [...timings],
          setDown: (value) => {
            down = value
            if (value) for (const socket of open) socket.destroy()
          }
        }))
      })
    }),
    ({ server }) => Effect.sync(() => server.close())
  )
