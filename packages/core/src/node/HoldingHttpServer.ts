/**
 * A `NodeHttpServer` that never leaves a request unheard between the moment its port opens and the moment its routes
 * are served.
 *
 * `NodeHttpServer.make` (`@effect/platform-node` 0.108, `src/internal/httpServer.ts`) calls `server.listen(...)` when
 * the `HttpServer` layer is built, but attaches its `"request"` and `"upgrade"` listeners only later, in
 * `HttpServer.serve`, which `HttpLayerRouter.serve` calls once every route layer is built. Node emits a request that
 * arrives in between to no listener at all: it is never answered and its client hangs. This module holds such requests
 * and hands them to the platform's listeners as soon as they are attached; if the layer is released first (start-up
 * failed), it answers them `503` instead.
 *
 * @since 0.1.0
 */
import { type Etag, type HttpPlatform, HttpServer, type HttpServerError } from "@effect/platform"
import { type NodeContext, NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer, type Scope } from "effect"
import type * as Http from "node:http"
import type * as Net from "node:net"
import type { Duplex } from "node:stream"

/** Answer to a request held when start-up failed: an OpenAI-style error body. */
const unavailableBody = "{\"error\":{\"message\":\"The server failed to start\",\"type\":\"server_error\"}}"

const unavailableUpgrade = "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"

const answerUnavailable = (response: Http.ServerResponse): void => {
  if (response.headersSent || response.writableEnded) return
  response.writeHead(503, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(unavailableBody),
    connection: "close"
  })
  response.end(unavailableBody)
}

const refuseUpgrade = (socket: Duplex): void => {
  if (socket.destroyed) return
  socket.end(unavailableUpgrade, () => socket.destroy())
}

/**
 * Requests held on a server that listens before anything serves it.
 *
 * @category models
 */
export interface Holding {
  /**
   * Start-up failed: answers every held request `503` (a JSON error body, `connection: close`), ends every held upgrade
   * with a bare `503`, and answers so whatever arrives later, until the server closes.
   */
  readonly refuse: () => void
}

/**
 * Holds the `"request"` (`(req, res)`) and `"upgrade"` (`(req, socket, head)`) events of `server` until a listener
 * of its own is attached for them.
 *
 * **Details.** Call it before `server.listen`. It attaches a holding listener per event, which queues what arrives.
 * Node emits `"newListener"` just before it adds a listener: when the first other listener for an event comes, the
 * holder is detached and, on the next tick (once that listener is in place), the queue is re-emitted on `server` in
 * arrival order. An event nobody listens to by then is answered `503`.
 *
 * **Gotchas.** Any other `"request"` listener counts as the server's own: attach nothing but the real handler.
 * `refuse` does not close the server.
 *
 * @see {@link make} for the whole server
 * @category constructors
 */
export const holdEarlyRequests = (server: Http.Server): Holding => {
  // plain closures, not Refs: every access is a synchronous Node event callback
  const requests: Array<readonly [Http.IncomingMessage, Http.ServerResponse]> = []
  const upgrades: Array<readonly [Http.IncomingMessage, Duplex, Buffer]> = []
  let refused = false

  const holdRequest = (request: Http.IncomingMessage, response: Http.ServerResponse): void => {
    if (refused) answerUnavailable(response)
    else requests.push([request, response])
  }
  const holdUpgrade = (request: Http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (refused) refuseUpgrade(socket)
    else upgrades.push([request, socket, head])
  }

  const holding = () =>
    server.listeners("request").includes(holdRequest) || server.listeners("upgrade").includes(holdUpgrade)

  const release = (event: string | symbol): void => {
    if (event === "request" && server.listeners("request").includes(holdRequest)) {
      server.off("request", holdRequest)
      const queued = requests.splice(0)
      process.nextTick(() => {
        for (const [request, response] of queued) {
          if (server.listenerCount("request") > 0) server.emit("request", request, response)
          else answerUnavailable(response)
        }
      })
    } else if (event === "upgrade" && server.listeners("upgrade").includes(holdUpgrade)) {
      server.off("upgrade", holdUpgrade)
      const queued = upgrades.splice(0)
      process.nextTick(() => {
        for (const [request, socket, head] of queued) {
          if (server.listenerCount("upgrade") > 0) server.emit("upgrade", request, socket, head)
          else refuseUpgrade(socket)
        }
      })
    }
    if (!holding()) server.off("newListener", release)
  }

  server.on("request", holdRequest)
  server.on("upgrade", holdUpgrade)
  // after the holders, or they would release themselves
  server.on("newListener", release)

  return {
    refuse: () => {
      refused = true
      for (const [, response] of requests.splice(0)) answerUnavailable(response)
      for (const [, socket] of upgrades.splice(0)) refuseUpgrade(socket)
    }
  }
}

/**
 * `NodeHttpServer.make` with {@link holdEarlyRequests}: a request that reaches the port before the routes are served
 * waits for them instead of hanging; one still held when the scope closes is answered `503`.
 *
 * **Details.** The refusal is a finalizer added after the platform's own, so it runs before the platform closes the
 * server (`server.close` waits for open connections, held ones included).
 *
 * @category constructors
 */
export const make = (
  evaluate: () => Http.Server,
  options: Net.ListenOptions
): Effect.Effect<HttpServer.HttpServer, HttpServerError.ServeError, Scope.Scope> =>
  Effect.suspend(() => {
    const server = evaluate()
    const holding = holdEarlyRequests(server)
    return Effect.acquireRelease(
      NodeHttpServer.make(() => server, options),
      () => Effect.sync(holding.refuse)
    )
  })

/**
 * A drop-in for `NodeHttpServer.layer(evaluate, options)` built on {@link make}: the same services, and no request
 * left unanswered during start-up.
 *
 * @category layers
 */
export const layer = (
  evaluate: () => Http.Server,
  options: Net.ListenOptions
): Layer.Layer<
  HttpServer.HttpServer | HttpPlatform.HttpPlatform | Etag.Generator | NodeContext.NodeContext,
  HttpServerError.ServeError
> => Layer.merge(Layer.scoped(HttpServer.HttpServer, make(evaluate, options)), NodeHttpServer.layerContext)
