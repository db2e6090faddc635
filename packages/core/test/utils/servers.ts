/**
 * Real loopback HTTP(S) servers for tests that need a socket: started in a Scope, closed with it.
 */
import * as Undici from "@effect/platform-node/Undici"
import { Deferred, Duration, Effect, Exit, Schedule, type Scope } from "effect"
import { readFileSync } from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"

/**
 * The fixtures' self-signed certificate for 127.0.0.1 (`fixtures/README.md`): its path, to trust it, and the pair to
 * serve it.
 */
export const certPath = fileURLToPath(new URL("../fixtures/tls-cert.pem", import.meta.url))
export const tls = {
  cert: readFileSync(certPath, "utf8"),
  key: readFileSync(new URL("../fixtures/tls-key.pem", import.meta.url), "utf8")
}

export type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void

export interface Started {
  readonly url: string
  readonly port: number
  /** TCP connections accepted so far. */
  readonly connections: () => number
}

export const serve = (
  handler: Handler,
  tls?: { readonly key: string; readonly cert: string }
): Effect.Effect<Started, never, Scope.Scope> => {
  let accepted = 0
  return Effect.acquireRelease(
    Effect.async<http.Server>((resume) => {
      const server = tls === undefined ? http.createServer(handler) : https.createServer(tls, handler)
      server.on(tls === undefined ? "connection" : "secureConnection", () => {
        accepted += 1
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(
    Effect.map((server) => {
      const port = (server.address() as AddressInfo).port
      return { port, url: `${tls === undefined ? "http" : "https"}://127.0.0.1:${port}`, connections: () => accepted }
    })
  )
}

/** A port nothing listens on (it was free a moment ago). */
export const closedPort: Effect.Effect<number> = Effect.scoped(
  Effect.map(serve(() => {}), (started) => started.port)
)

/**
 * Waits (at most 5 s) until `agent` holds exactly one connection to `origin` and it is free for the next call: what a
 * client that keeps its connections leaves behind; one that closed it leaves none.
 */
export const awaitKeptConnection = (agent: Undici.Agent, origin: string): Effect.Effect<void, Error> => {
  const pool = () => agent.stats[origin]
  return Effect.sync(pool).pipe(
    Effect.repeat({
      schedule: Schedule.spaced(Duration.millis(10)),
      until: (stats) => stats !== undefined && "free" in stats && stats.free === 1 && stats.connected === 1
    }),
    Effect.timeoutFail({
      duration: Duration.seconds(5),
      onTimeout: () => new Error(`the connection was not kept: ${JSON.stringify(pool() ?? "none")}`)
    }),
    Effect.asVoid
  )
}

/** An undici `Agent` of the test's own, destroyed with the scope: its pool shows which connections a client keeps. */
export const agent: Effect.Effect<Undici.Agent, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => new Undici.Agent()),
  (agent) => Effect.promise(() => agent.destroy())
)

/**
 * A server that answers one event stream with `head` and holds the response open; `held` gives the response, for the
 * test to write the rest and end it when it chooses.
 */
export const holdingAfter = (
  head: string
): Effect.Effect<Started & { readonly held: Deferred.Deferred<http.ServerResponse> }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const held = yield* Deferred.make<http.ServerResponse>()
    const started = yield* serve((request, response) => {
      request.resume()
      response.writeHead(200, { "content-type": "text/event-stream" })
      response.write(head)
      Deferred.unsafeDone(held, Exit.succeed(response))
    })
    return { ...started, held }
  })
