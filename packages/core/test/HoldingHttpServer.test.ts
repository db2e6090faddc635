/**
 * A request that reaches the port before the routes are served is held: answered once they are, or `503` when the
 * start-up fails. Each request is sent with `expect: 100-continue`: Node writes `100 Continue` just before it emits
 * `"request"`, so the client knows the server has taken the request while nothing serves it yet.
 */
import { HttpLayerRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Layer } from "effect"
import * as http from "node:http"
import { HoldingHttpServer } from "../src/node.js"

interface Answer {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

/** A POST whose head goes out first; `taken` completes when the server has parsed it and emitted `"request"`. */
const post = (port: number, taken: Deferred.Deferred<void>) =>
  Effect.async<Answer, Error>((resume) => {
    const request = http.request({
      host: "127.0.0.1",
      port,
      path: "/",
      method: "POST",
      agent: false,
      headers: { expect: "100-continue", "content-type": "text/plain" }
    })
    request.on("continue", () => {
      Deferred.unsafeDone(taken, Exit.void)
      request.end("hello")
    })
    request.on("response", (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => {
        body += chunk
      })
      response.on("end", () =>
        resume(Effect.succeed({
          status: response.statusCode ?? 0,
          contentType: response.headers["content-type"] ?? "",
          body
        })))
    })
    request.on("error", (error) => resume(Effect.fail(error)))
    request.flushHeaders()
    return Effect.sync(() => request.destroy())
  })

/** A server whose one route layer publishes the port, then finishes building only when `gate` does. */
const slowToStart = (node: http.Server, gate: Deferred.Deferred<void, Error>, port: Deferred.Deferred<number>) => {
  const route = HttpLayerRouter.add("POST", "/", Effect.succeed(HttpServerResponse.text("served")))
  const slowRoute = Layer.effectDiscard(Effect.gen(function*() {
    const address = (yield* HttpServer.HttpServer).address
    yield* Deferred.succeed(port, address._tag === "TcpAddress" ? address.port : 0)
    yield* Deferred.await(gate)
  }))
  return HttpLayerRouter.serve(Layer.merge(route, slowRoute), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provide(HoldingHttpServer.layer(() => node, { port: 0, host: "127.0.0.1" }))
  )
}

const within = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.timeout(effect, Duration.seconds(10))

describe("HoldingHttpServer", () => {
  it.live("a request taken before the routes are served is answered once they are; no holder is left", () =>
    Effect.gen(function*() {
      const node = http.createServer()
      const gate = yield* Deferred.make<void, Error>()
      const port = yield* Deferred.make<number>()
      const taken = yield* Deferred.make<void>()
      const server = yield* Effect.fork(Layer.launch(slowToStart(node, gate, port)))
      const answer = yield* Effect.fork(post(yield* Deferred.await(port), taken))
      yield* Deferred.await(taken)
      assert.isFalse(yield* Deferred.isDone(gate), "taken while the routes were not served")
      yield* Deferred.succeed(gate, undefined)
      const { body, status } = yield* Fiber.join(answer)
      assert.deepStrictEqual({ status, body }, { status: 200, body: "served" })
      assert.strictEqual(node.listenerCount("request"), 1)
      assert.strictEqual(node.listenerCount("upgrade"), 1)
      assert.strictEqual(node.listenerCount("newListener"), 0)
      yield* Fiber.interrupt(server)
    }).pipe(within))

  it.live("a start-up that fails answers the held request 503 with a JSON error", () =>
    Effect.gen(function*() {
      const node = http.createServer()
      const gate = yield* Deferred.make<void, Error>()
      const port = yield* Deferred.make<number>()
      const taken = yield* Deferred.make<void>()
      const server = yield* Effect.fork(Layer.launch(slowToStart(node, gate, port)))
      const answer = yield* Effect.fork(post(yield* Deferred.await(port), taken))
      yield* Deferred.await(taken)
      yield* Deferred.fail(gate, new Error("a route failed to start"))
      assert.isTrue(Exit.isFailure(yield* Fiber.await(server)))
      const { body, contentType, status } = yield* Fiber.join(answer)
      assert.strictEqual(status, 503)
      assert.strictEqual(contentType, "application/json")
      assert.deepStrictEqual(JSON.parse(body), {
        error: { message: "The server failed to start", type: "server_error" }
      })
      assert.isFalse(node.listening)
    }).pipe(within))
})
