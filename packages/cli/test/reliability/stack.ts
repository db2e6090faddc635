/**
 * The reliability suite's stack: an emulated Letta behind its `--secure` password, core, and the server behind its API
 * key, on loopback ports, with every log line captured so that the suite can prove no secret reaches them.
 */
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { LettaConfig, Pipeline } from "@letta-pipeline/core"
import { HttpTransport } from "@letta-pipeline/core/node"
import { Emulator, type EmulatorConfig } from "@letta-pipeline/emulator"
import { ConversationStore, Server, ServerConfig } from "@letta-pipeline/server"
import { Duration, Effect, Layer, Logger, Option, Redacted, Schedule } from "effect"
import { createServer } from "node:http"
import * as net from "node:net"
import { startAndWait } from "../utils/cli.js"

/** The secrets of the suite: none of them may appear in any log line, error body, event or CLI output. */
export const secrets = {
  lettaPassword: "letta-password-3f9a1c77e2",
  pipelineKey: "pipeline-key-8b21d4e0c5"
} as const

/** Everything the suite saw: log lines, response bodies, CLI output. */
export const seen: Array<string> = []

/** The suite's API key, with a JSON content type. */
export const withKey = { authorization: `Bearer ${secrets.pipelineKey}`, "content-type": "application/json" }

/** One request; its status and body, the body also kept in `seen`. */
export const call = (
  url: string,
  init: { readonly method?: string; readonly headers?: Record<string, string>; readonly body?: string } = {}
) =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    const text = await response.text()
    seen.push(text)
    return { status: response.status, text }
  })

/** The secrets found in what the suite saw (expected: none). */
export const leakedSecrets = (): ReadonlyArray<string> =>
  Object.values(secrets).filter((secret) => seen.some((text) => text.includes(secret)))

/** Log lines go to `seen` (as logfmt, annotations included) instead of the console. */
const capturedLogs = Logger.replace(
  Logger.defaultLogger,
  Logger.map(Logger.logfmtLogger, (line) => {
    seen.push(line)
  })
)

export interface Options {
  readonly emulator?: Partial<EmulatorConfig.Settings>
  readonly letta?: Parameters<typeof LettaConfig.make>[0]
  readonly server?: Partial<ServerConfig.Settings>
}

/** The emulated Letta alone, behind its password, its logs captured. */
export const emulatorLayer = (options: Partial<EmulatorConfig.Settings> = {}) =>
  Emulator.layer({ password: Option.some(Redacted.make(secrets.lettaPassword)), ...options }).pipe(
    Layer.provide(capturedLogs),
    Layer.orDie
  )

/**
 * The built server as its own process (as in production) against the in-process emulator, with the suite's secrets;
 * its output goes to `seen`. Stopped with the scope.
 */
export const serverProcess = (env: Record<string, string> = {}, onLine: (line: string) => void = () => {}) =>
  Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    return yield* startAndWait(["serve", "--port", "0"], {
      LETTA_BASE_URL: emulator.url,
      LETTA_PASSWORD: secrets.lettaPassword,
      LETTA_AGENT_ID: emulator.demoAgent.id,
      PIPELINE_API_KEY: secrets.pipelineKey,
      PIPELINE_STORE: "memory",
      ...env
    }, (line) => {
      seen.push(line)
      onLine(line)
    })
  })

/** Emulator + core + server in this process; the server on a free 127.0.0.1 port. */
export const stackLayer = (options: Options = {}) => {
  const core = Layer.unwrapEffect(Effect.map(Emulator.Emulator, (emulator) => {
    const settings = LettaConfig.make({
      baseUrl: emulator.url,
      password: Option.some(Redacted.make(secrets.lettaPassword)),
      agentId: Option.some(emulator.demoAgent.id),
      ...options.letta
    })
    return Pipeline.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings)))
  }))
  return Server.layerApp.pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
    Layer.provideMerge(core),
    Layer.provideMerge(ServerConfig.layer({ apiKey: Option.some(Redacted.make(secrets.pipelineKey)), ...options.server })),
    Layer.provideMerge(ConversationStore.layerMemory),
    Layer.provideMerge(emulatorLayer(options.emulator)),
    Layer.provide(capturedLogs),
    Layer.orDie
  )
}

/** The server's base URL. */
export const serverUrl = Effect.map(HttpServer.HttpServer, (server) =>
  server.address._tag === "TcpAddress" ? `http://127.0.0.1:${server.address.port}` : "")

/** Waits (polling, at most `within`) until the emulator has no open stream; fails naming how many stayed open. */
export const upstreamSettled = (within: Duration.DurationInput = Duration.seconds(3)) =>
  Effect.flatMap(Emulator.Emulator, (emulator) =>
    emulator.stats.snapshot.pipe(
      Effect.filterOrFail((stats) => stats.active_streams === 0, (stats) => new Error(`${stats.active_streams} upstream streams still open`)),
      Effect.retry({ schedule: Schedule.spaced("10 millis"), times: Math.ceil(Duration.toMillis(within) / 10) })
    ))

/** Counts unhandled rejections and uncaught exceptions while the suite runs. */
export const crashes = { unhandledRejections: 0, uncaughtExceptions: 0 }
process.on("unhandledRejection", () => {
  crashes.unhandledRejections += 1
})
process.on("uncaughtExceptionMonitor", () => {
  crashes.uncaughtExceptions += 1
})

/** A TCP relay in front of the emulator that counts the bytes the emulator sent through it, with backpressure. */
export const countingRelay = (target: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: net.Server; readonly sent: { bytes: number } }>((resume) => {
      const { hostname, port } = new URL(target)
      const sent = { bytes: 0 }
      const server = net.createServer((downstream) => {
        const upstream = net.connect(Number(port), hostname)
        upstream.on("data", (chunk: Buffer) => {
          sent.bytes += chunk.length
        })
        downstream.pipe(upstream)
        upstream.pipe(downstream)
        downstream.on("error", () => upstream.destroy())
        upstream.on("error", () => downstream.destroy())
        downstream.on("close", () => upstream.destroy())
        upstream.on("close", () => downstream.destroy())
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sent })))
    }),
    ({ server }) => Effect.sync(() => server.close())
  ).pipe(Effect.map(({ server, sent }) => {
    const address = server.address()
    return { url: `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`, sent }
  }))

/**
 * Polls `read` (bytes the server took from Letta) until the agent's stream is over, or until `read` is past `floor`
 * (the turn's tokens are flowing; the emulator takes a while to script a long turn before its first token) and has
 * not moved for `quiet`; its last value.
 */
export const readUntilHeld = (read: () => number, streamOver: Effect.Effect<boolean>, floor: number, quiet: Duration.Duration) =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    let last = read()
    let since = clock.unsafeCurrentTimeMillis()
    for (;;) {
      yield* Effect.sleep("200 millis")
      const now = read()
      if (yield* streamOver) return now
      if (now !== last) {
        last = now
        since = clock.unsafeCurrentTimeMillis()
      } else if (now >= floor && clock.unsafeCurrentTimeMillis() - since >= Duration.toMillis(quiet)) {
        return now
      }
    }
  })

/** The server's resident memory, from `/metrics`. */
export const residentMemory = (base: string) =>
  Effect.map(call(`${base}/metrics`, { headers: withKey }), (answer) =>
    Number(/^letta_pipeline_process_resident_memory_bytes (\d+)/m.exec(answer.text)?.[1] ?? Number.NaN))

export const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`

/**
 * The built server reading Letta through a `countingRelay`, with connect and first-event timeouts long enough for the
 * emulator to script a long turn before it answers; `env` adds to or overrides the server's environment.
 */
export const serverBehindRelay = (env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    const relay = yield* countingRelay(emulator.url)
    const base = yield* Effect.orDie(serverProcess({
      LETTA_BASE_URL: relay.url,
      LETTA_CONNECT_TIMEOUT: "120",
      LETTA_FIRST_EVENT_TIMEOUT: "120",
      ...env
    }))
    return { emulator, relay, base }
  })

/** A 3 MB message: with 16 characters per token frame, the agent's answer is ~380 000 frames, ~150 MB from Letta. */
export const longMessage = (() => {
  const words = "the agent quotes every word of this message back, token by token; "
  return words.repeat(Math.ceil(3_000_000 / words.length))
})()
