/**
 * The client over real loopback sockets: cancellation reaches the server, TLS is verified, transport errors are typed.
 */
import { HttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Duration, Effect, Exit, Fiber, Layer, Logger, Option, Ref, Stream, Tracer } from "effect"
import type * as http from "node:http"
import { LettaClient, LettaConfig, StreamStage } from "../src/index.js"
import { HttpTransport } from "../src/node.js"
import * as UndiciHttpClient from "../src/node/UndiciHttpClient.js"
import * as Letta from "./utils/letta.js"
import * as Mock from "./utils/MockHttpClient.js"
import { agent as testAgent, awaitKeptConnection, certPath, closedPort, holdingAfter, serve, tls } from "./utils/servers.js"

/** The client over Node's TLS-aware transport. */
const clientAt = (options: Parameters<typeof LettaConfig.make>[0]) => {
  const settings = LettaConfig.make(options)
  return LettaClient.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings)))
}

const turn = { messages: [{ role: "user" as const, content: "Hello" }] }

/** A server that streams one ping and then holds the response open, signalling when the client goes away. */
const holdingServer = Effect.gen(function*() {
  const closed = yield* Deferred.make<void>()
  const opened = yield* Deferred.make<void>()
  const server = yield* serve((request, response) => {
    Deferred.unsafeDone(opened, Exit.void)
    response.on("close", () => Deferred.unsafeDone(closed, Exit.void))
    response.writeHead(200, { "content-type": "text/event-stream" })
    response.write(Mock.frames(Letta.ping))
  })
  return { ...server, closed, opened }
})

const within = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string) =>
  effect.pipe(Effect.timeoutFail({ duration: Duration.seconds(5), onTimeout: () => new Error(`timed out: ${what}`) }))

describe("cancellation", () => {
  it.live("a consumer that stops early closes the upstream connection", () =>
    Effect.gen(function*() {
      const server = yield* holdingServer
      yield* Effect.gen(function*() {
        const client = yield* LettaClient.LettaClient
        const first = yield* Stream.runHead(client.streamMessage(Letta.agentId, turn))
        assert.strictEqual(Option.getOrThrow(first).message_type, "ping")
        yield* within(Deferred.await(server.closed), "server sees the close")
      }).pipe(Effect.provide(clientAt({ baseUrl: server.url })))
    }).pipe(Effect.scoped))

  it.live("interrupting the fiber mid-stream aborts the request at once", () =>
    Effect.gen(function*() {
      const server = yield* holdingServer
      yield* Effect.gen(function*() {
        const client = yield* LettaClient.LettaClient
        const fiber = yield* Effect.fork(Stream.runDrain(client.streamMessage(Letta.agentId, turn)))
        yield* within(Deferred.await(server.opened), "request arrives")
        yield* Fiber.interrupt(fiber)
        yield* within(Deferred.await(server.closed), "server sees the close")
      }).pipe(Effect.provide(clientAt({ baseUrl: server.url })))
    }).pipe(Effect.scoped))

  it.live("a pull interrupted while it waits leaves the stream readable: the next pull gets the next frame", () =>
    Effect.gen(function*() {
      const server = yield* holdingAfter(Mock.frames(Letta.ping))
      yield* Effect.gen(function*() {
        const client = yield* LettaClient.LettaClient
        const pull = yield* StreamStage.toPull(client.streamMessage(Letta.agentId, turn))
        const first = yield* within(pull, "the ping")
        assert.deepStrictEqual(Chunk.toReadonlyArray(first).map((m) => m.message_type), ["ping"])
        // nothing comes: the wait is interrupted, and the stream is pulled again
        assert.isTrue(Option.isNone(yield* Effect.timeoutOption(pull, Duration.millis(100))))
        const response = yield* Deferred.await(server.held)
        response.write(Mock.frames(Letta.assistant("after the wait")))
        const next = yield* within(pull, "the frame after an interrupted wait")
        assert.deepStrictEqual(Chunk.toReadonlyArray(next).map((m) => m.message_type), ["assistant_message"])
        response.end(Mock.frames(Letta.stopReason()))
      }).pipe(Effect.scoped, Effect.provide(clientAt({ baseUrl: server.url })))
    }).pipe(Effect.scoped))

  it.live("interrupting the fiber while it waits for the next frame ends the read and aborts the request", () =>
    Effect.gen(function*() {
      const server = yield* holdingServer
      yield* Effect.gen(function*() {
        const client = yield* LettaClient.LettaClient
        const firstRead = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(Stream.runDrain(
          client.streamMessage(Letta.agentId, turn).pipe(Stream.tap(() => Deferred.succeed(firstRead, undefined)))
        ))
        // the ping is read: the body's pull now waits for data that does not come
        yield* within(Deferred.await(firstRead), "first frame read")
        const exit = yield* within(Fiber.interrupt(fiber), "the read ends")
        assert.isTrue(Exit.isInterrupted(exit))
        yield* within(Deferred.await(server.closed), "server sees the close")
      }).pipe(Effect.provide(clientAt({ baseUrl: server.url })))
    }).pipe(Effect.scoped))
})

describe("connections", () => {
  const done = "data: [DONE]\n\n"
  const answer = Mock.frames(Letta.assistant("hi"), Letta.stopReason()) + done
  const streamTurn = Effect.flatMap(LettaClient.LettaClient, (client) => Stream.runCollect(client.streamMessage(Letta.agentId, turn)))

  it.live("turns read to [DONE] leave their connection to the next turn", () =>
    Effect.gen(function*() {
      const server = yield* serve((request, response) => {
        request.resume()
        response.writeHead(200, { "content-type": "text/event-stream" })
        response.end(answer)
      })
      const turns = yield* Effect.all(Array.from({ length: 10 }, () => streamTurn)).pipe(
        Effect.provide(clientAt({ baseUrl: server.url }))
      )
      for (const messages of turns) {
        assert.deepStrictEqual(Chunk.toArray(messages).map((m) => m.message_type), ["assistant_message", "stop_reason"])
      }
      // the next turn may start before the previous body's last bytes are in, and open a second connection; a client
      // that closed each connection after [DONE] would open ten
      assert.isAtMost(server.connections(), 3)
    }).pipe(Effect.scoped))

  it.live("a turn whose server goes on sending after [DONE] ends at [DONE], and its connection is closed", () =>
    Effect.gen(function*() {
      const closed = yield* Deferred.make<void>()
      const server = yield* serve((request, response) => {
        request.resume()
        response.writeHead(200, { "content-type": "text/event-stream" })
        response.write(answer)
        const timer = setInterval(() => response.write(": still here\n\n"), 20)
        response.on("close", () => {
          clearInterval(timer)
          Deferred.unsafeDone(closed, Exit.void)
        })
      })
      // the client stays open: the close is its own, not its dispatcher's being shut down
      yield* Effect.gen(function*() {
        const messages = yield* within(streamTurn, "the turn ends")
        assert.strictEqual(Chunk.size(messages), 2)
        yield* within(Deferred.await(closed), "server sees the close")
      }).pipe(Effect.provide(clientAt({ baseUrl: server.url })))
    }).pipe(Effect.scoped))

  it.live("a turn ended by [DONE] before the end of its body reads that end in the background, keeping the connection", () =>
    Effect.gen(function*() {
      const server = yield* holdingAfter(answer)
      const agent = yield* testAgent
      const messages = yield* within(streamTurn, "the turn").pipe(
        Effect.provide(LettaClient.layerSettings(LettaConfig.make({ baseUrl: server.url })).pipe(
          Layer.provide(Layer.succeed(HttpClient.HttpClient, UndiciHttpClient.make(agent)))
        ))
      )
      assert.strictEqual(Chunk.size(messages), 2)
      // the end of the body, once the turn is over
      ;(yield* Deferred.await(server.held)).end()
      yield* awaitKeptConnection(agent, server.url)
    }).pipe(Effect.scoped))

  it.live("a consumer that leaves before [DONE] closes its connection, even when the rest of the turn is short", () =>
    Effect.gen(function*() {
      // a client that goes away mid-turn: had the rest been read on to keep the connection, a long turn would run
      // on for nothing; here the rest is short and comes only once the consumer has left
      let requests = 0
      let firstSocket: unknown
      let secondSocket: unknown
      const held = yield* Deferred.make<http.ServerResponse>()
      const firstSocketClosed = yield* Deferred.make<void>()
      const server = yield* serve((request, response) => {
        request.resume()
        requests += 1
        response.writeHead(200, { "content-type": "text/event-stream" })
        if (requests > 1) {
          secondSocket = request.socket
          return response.end(answer)
        }
        firstSocket = request.socket
        request.socket.once("close", () => Deferred.unsafeDone(firstSocketClosed, Exit.void))
        response.write(Mock.frames(Letta.ping))
        Deferred.unsafeDone(held, Exit.succeed(response))
      })
      yield* Effect.gen(function*() {
        const client = yield* LettaClient.LettaClient
        const first = yield* within(Stream.runHead(client.streamMessage(Letta.agentId, turn)), "the first event")
        assert.strictEqual(Option.getOrThrow(first).message_type, "ping")
        // the rest of the first turn, [DONE] and the end of its body, once its consumer has gone
        const response = yield* Deferred.await(held)
        response.end(answer)
        // well before undici's keep-alive (4 s, from the server's 5 s) would close a connection kept for reuse
        yield* Deferred.await(firstSocketClosed).pipe(Effect.timeoutFail({
          duration: Duration.seconds(2),
          onTimeout: () => new Error("the first connection was kept")
        }))
        const messages = yield* within(streamTurn, "the second turn")
        assert.deepStrictEqual(Chunk.toArray(messages).map((m) => m.message_type), ["assistant_message", "stop_reason"])
        assert.notStrictEqual(secondSocket, firstSocket)
      }).pipe(Effect.provide(clientAt({ baseUrl: server.url })))
    }).pipe(Effect.scoped))

  /** A turn against `server` under `timeouts` fails by a timeout of `phase`, and the server sees its connection close. */
  const timesOut = (
    server: { readonly url: string; readonly closed: Deferred.Deferred<void> },
    timeouts: Partial<LettaConfig.Timeouts>,
    phase: "connect" | "idle",
    tracer?: Tracer.Tracer
  ) =>
    Effect.gen(function*() {
      const turn = streamTurn.pipe(Effect.provide(clientAt({ baseUrl: server.url, timeouts })))
      const error = yield* within(Effect.flip(tracer === undefined ? turn : Effect.withTracer(turn, tracer)), "the timeout")
      assert.isTrue(error._tag === "HttpError" && error.reason === "Timeout" && error.phase === phase, String(error))
      yield* within(Deferred.await(server.closed), "server sees the close")
    })

  it.live("an idle timeout closes the streamed request", () =>
    Effect.flatMap(holdingServer, (server) => timesOut(server, { idle: Duration.millis(300) }, "idle")).pipe(Effect.scoped))

  /** A server that reads each request and never answers it, signalling when the client goes away. */
  const silentServer = Effect.gen(function*() {
    const closed = yield* Deferred.make<void>()
    const server = yield* serve((request, response) => {
      request.resume()
      response.on("close", () => Deferred.unsafeDone(closed, Exit.void))
    })
    return { ...server, closed }
  })

  it.live("a streamed call whose headers do not come within the connect timeout fails naming it, and is aborted", () =>
    Effect.flatMap(silentServer, (server) => timesOut(server, { connect: Duration.millis(300) }, "connect")).pipe(Effect.scoped))

  it.live("under a tracer that exports spans, the connect timeout holds the same way", () =>
    Effect.gen(function*() {
      const server = yield* silentServer
      const native = yield* Effect.tracer
      yield* timesOut(server, { connect: Duration.millis(300) }, "connect", Tracer.make({ span: native.span, context: native.context }))
    }).pipe(Effect.scoped))

  /** A server answering one turn, keeping the `traceparent` header of each request. */
  const tracedServer = Effect.gen(function*() {
    const seen: Array<string | undefined> = []
    const server = yield* serve((request: http.IncomingMessage, response: http.ServerResponse) => {
      seen.push(request.headers["traceparent"] as string | undefined)
      request.resume()
      response.writeHead(200, { "content-type": "text/event-stream" })
      response.end(answer)
    })
    return { ...server, seen }
  })

  it.live("under a tracer that exports spans, a Letta call is a client span whose trace reaches Letta", () =>
    Effect.gen(function*() {
      const server = yield* tracedServer
      const native = yield* Effect.tracer
      const names: Array<string> = []
      const recording = Tracer.make({
        span: (name, ...rest) => {
          names.push(name)
          return native.span(name, ...rest)
        },
        context: native.context
      })
      yield* streamTurn.pipe(Effect.provide(clientAt({ baseUrl: server.url })), Effect.withTracer(recording))
      assert.include(names, "http.client POST")
      assert.match(server.seen[0] ?? "", /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
    }).pipe(Effect.scoped))

  it.live("under Effect's default tracer, whose spans reach no one, a Letta call makes none and sends no trace", () =>
    Effect.gen(function*() {
      const server = yield* tracedServer
      yield* streamTurn.pipe(Effect.provide(clientAt({ baseUrl: server.url })))
      assert.deepStrictEqual(server.seen, [undefined])
    }).pipe(Effect.scoped))
})

describe("TLS", () => {
  const healthServer = serve((_, response) => {
    response.writeHead(200, { "content-type": "application/json" })
    response.end("{\"version\":\"0.16.8\",\"status\":\"ok\"}")
  }, tls)

  const health = Effect.flatMap(LettaClient.LettaClient, (client) => client.health)

  it.live("verification is on: a self-signed server is refused with a hint", () =>
    Effect.gen(function*() {
      const server = yield* healthServer
      const error = yield* Effect.flip(health.pipe(Effect.provide(clientAt({ baseUrl: server.url }))))
      assert.strictEqual(error._tag, "HttpError")
      if (error._tag !== "HttpError") return
      assert.strictEqual(error.reason, "Tls")
      assert.include(error.message, "LETTA_CA_FILE")
    }).pipe(Effect.scoped))

  it.live("a CA file makes the self-signed server trusted", () =>
    Effect.gen(function*() {
      const server = yield* healthServer
      const result = yield* health.pipe(
        Effect.provide(clientAt({ baseUrl: server.url, tls: { caFile: Option.some(certPath) } }))
      )
      assert.strictEqual(result.status, "ok")
    }).pipe(Effect.scoped))

  it.live("an unreadable CA file fails the layer, naming the setting", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        health.pipe(Effect.provide(clientAt({ tls: { caFile: Option.some("/nonexistent/ca.pem") } })))
      )
      assert.include(String(error), "LETTA_CA_FILE")
    }))

  it.live("skipping verification is an explicit opt-in, and it is logged", () =>
    Effect.gen(function*() {
      const server = yield* healthServer
      const logs = yield* Ref.make<ReadonlyArray<string>>([])
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ logLevel, message }) => Ref.update(logs, (all) => [...all, `${logLevel.label} ${String(message)}`]).pipe(Effect.runSync))
      )
      const result = yield* health.pipe(
        Effect.provide(clientAt({ baseUrl: server.url, tls: { insecure: true } })),
        Effect.provide(capture)
      )
      assert.strictEqual(result.status, "ok")
      const lines = yield* Ref.get(logs)
      assert.isTrue(lines.some((line) => line.startsWith("WARN") && line.includes("TLS certificate verification is OFF")))
    }).pipe(Effect.scoped))
})

describe("transport errors", () => {
  it.live("connection refused is an HttpError naming the URL", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const error = yield* Effect.flip(
        Effect.flatMap(LettaClient.LettaClient, (client) => client.health).pipe(
          Effect.provide(clientAt({ baseUrl: `http://127.0.0.1:${port}` }))
        )
      )
      assert.strictEqual(error._tag === "HttpError" && error.reason, "Transport")
      assert.include(error.message, `GET http://127.0.0.1:${port}/v1/health/`)
      assert.include(error.message, "ECONNREFUSED")
    }))

  it.live("a connection reset in the middle of a JSON answer is a Transport error, at once", () =>
    Effect.gen(function*() {
      const server = yield* serve((_, response) => {
        response.writeHead(200, { "content-type": "application/json", "content-length": "1000" })
        response.write("{\"version\":", () => response.socket?.destroy())
      })
      const error = yield* within(
        Effect.flip(
          Effect.flatMap(LettaClient.LettaClient, (client) => client.health).pipe(
            Effect.provide(clientAt({ baseUrl: server.url }))
          )
        ),
        "the failure"
      )
      assert.isTrue(error._tag === "HttpError" && error.reason === "Transport", String(error))
    }).pipe(Effect.scoped))

  it.live("a connection reset mid-stream is a Transport error after the events before it", () =>
    Effect.gen(function*() {
      const server = yield* serve((_, response) => {
        response.writeHead(200, { "content-type": "text/event-stream" })
        response.write(Mock.frames(Letta.ping, Letta.assistant("half")), () => response.socket?.destroy())
      })
      const items = yield* Effect.gen(function*() {
        const client = yield* LettaClient.LettaClient
        return yield* Stream.runCollect(Stream.either(client.streamMessage(Letta.agentId, turn)))
      }).pipe(Effect.provide(clientAt({ baseUrl: server.url })))
      const all = [...items]
      assert.strictEqual(all.length, 3)
      const last = all[2]
      assert.isTrue(last?._tag === "Left" && last.left._tag === "HttpError" && last.left.reason === "Transport")
    }).pipe(Effect.scoped))
})
