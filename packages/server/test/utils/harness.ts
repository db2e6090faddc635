/**
 * The server over core over an in-process emulator, on a random loopback port.
 */
import { HttpClient, HttpClientRequest, HttpServer, Socket } from "@effect/platform"
import { NodeHttpServer, NodeSocket } from "@effect/platform-node"
import { LettaConfig, Pipeline } from "@letta-pipeline/core"
import { HttpTransport } from "@letta-pipeline/core/node"
import { Emulator, type EmulatorConfig } from "@letta-pipeline/emulator"
import { Deferred, Duration, Effect, Layer, Option, Queue, Schedule, Schema } from "effect"
import { ConversationStore, Server, ServerConfig, type UserAgentStore } from "../../src/index.js"

export interface Options {
  readonly emulator?: Partial<EmulatorConfig.Settings>
  readonly letta?: Parameters<typeof LettaConfig.make>[0]
  readonly server?: Partial<ServerConfig.Settings>
  /** Set LETTA_AGENT_ID to the emulator's demo agent. */
  readonly pinDemoAgent?: boolean
  /** The chat → conversation and user → agent stores (default: in memory). */
  readonly store?: Layer.Layer<ConversationStore.ConversationStore | UserAgentStore.UserAgentStore>
}

const core = (options: Options) =>
  Layer.unwrapEffect(Effect.map(Emulator.Emulator, (emulator) => {
    const settings = LettaConfig.make({
      baseUrl: emulator.url,
      ...(options.pinDemoAgent === true ? { agentId: Option.some(emulator.demoAgent.id) } : {}),
      ...options.letta
    })
    return Pipeline.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings)))
  }))

/** Server + emulator; the test's `HttpClient` talks to the server. */
export const serverLayer = (options: Options = {}) =>
  Server.layerApp.pipe(
    Layer.provideMerge(NodeHttpServer.layerTest),
    Layer.provideMerge(core(options)),
    Layer.provideMerge(ServerConfig.layer(options.server)),
    Layer.provideMerge(options.store ?? ConversationStore.layerMemory),
    Layer.provideMerge(Emulator.layer(options.emulator))
  )

export const serverUrl = Effect.map(HttpServer.HttpServer, (server) =>
  server.address._tag === "TcpAddress" ? `http://127.0.0.1:${server.address.port}` : "")

export const demoAgent = Effect.map(Emulator.Emulator, (emulator) => emulator.demoAgent)

export const emulatorStats = Effect.flatMap(Emulator.Emulator, (emulator) => emulator.stats.snapshot)

/** The emulator's stats once `settled` holds (a stream closing is seen a moment after the client goes); 5 s at most. */
export const emulatorStatsUntil = (settled: (stats: Effect.Effect.Success<typeof emulatorStats>) => boolean) =>
  emulatorStats.pipe(
    Effect.filterOrFail(settled, () => new Error("emulator stats not settled yet")),
    Effect.retry(Schedule.spaced("10 millis")),
    Effect.timeoutFail({ duration: Duration.seconds(5), onTimeout: () => new Error("emulator stats never settled") })
  )

export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
}

export const call = (
  method: "GET" | "POST" | "OPTIONS",
  path: string,
  options: { readonly body?: unknown; readonly headers?: Record<string, string> } = {}
) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    let request = HttpClientRequest.make(method)(path).pipe(HttpClientRequest.setHeaders(options.headers ?? {}))
    if (options.body !== undefined) {
      request = typeof options.body === "string"
        ? HttpClientRequest.bodyText(request, options.body, "application/json")
        : HttpClientRequest.bodyUnsafeJson(request, options.body)
    }
    const response = yield* client.execute(request)
    return { status: response.status, headers: response.headers, text: yield* response.text } satisfies Answer
  }).pipe(Effect.scoped, Effect.orDie)

/** A JSON object's fields. */
export const fields = (value: unknown): Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : {}

export const json = (answer: Answer): Readonly<Record<string, unknown>> => fields(JSON.parse(answer.text))

/** The `data:` payloads of an SSE body, `[DONE]` as the string. */
export const dataLines = (text: string): ReadonlyArray<unknown> =>
  text.split("\n").filter((line) => line.startsWith("data: ")).map((line) => {
    const data = line.slice(6)
    return data === "[DONE]" ? data : JSON.parse(data)
  })

/** Content deltas of OpenAI chunks, joined. */
export const contentOf = (chunks: ReadonlyArray<unknown>): string =>
  chunks.map((chunk) => {
    const choice = fields((fields(chunk).choices as ReadonlyArray<unknown> | undefined)?.[0])
    return String(fields(choice.delta).content ?? "")
  }).join("")

export const decode = <A, I>(schema: Schema.Schema<A, I>, answer: Answer): A =>
  Schema.decodeUnknownSync(schema)(JSON.parse(answer.text))

export const chat = (content: string, extra: Record<string, unknown> = {}) =>
  Effect.map(demoAgent, (agent) => ({ model: agent.id, messages: [{ role: "user", content }], ...extra }))

/** A WebSocket client: what it receives goes to a queue. */
export const wsConnect = Effect.gen(function*() {
  const url = (yield* serverUrl).replace("http://", "ws://")
  const socket = yield* Socket.makeWebSocket(`${url}/v1/ws`)
  const received = yield* Queue.unbounded<Readonly<Record<string, unknown>>>()
  const opened = yield* Deferred.make<void>()
  yield* socket.runRaw(
    (data) => Queue.offer(received, fields(JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data)))),
    { onOpen: Deferred.succeed(opened, undefined) }
  ).pipe(Effect.forkScoped)
  yield* Deferred.await(opened)
  const write = yield* socket.writer
  const send = (message: unknown) => write(JSON.stringify(message)).pipe(Effect.orDie)
  const next = Queue.take(received).pipe(Effect.timeoutFail({ duration: Duration.seconds(10), onTimeout: () => new Error("no message") }))
  const untilEnd = Effect.gen(function*() {
    const events: Array<Readonly<Record<string, unknown>>> = []
    for (;;) {
      const event = yield* next
      events.push(event)
      if (event.type === "done" || event.type === "error") return events
    }
  })
  return { send, next, untilEnd }
}).pipe(Effect.provide(NodeSocket.layerWebSocketConstructor))
