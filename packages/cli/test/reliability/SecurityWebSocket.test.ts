/**
 * `GET /v1/ws` against the built server as its own process: a client that stops reading holds the agent's stream back
 * instead of making the server read all of it; a message over `PIPELINE_MAX_BODY` is refused with 1009; idle and dead
 * sockets are closed; sockets over `PIPELINE_WS_MAX_SOCKETS` are refused with 503 while the others keep working.
 */
import { NodeContext } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Clock, Console, Deferred, Duration, Effect, FiberId, Layer, Schedule } from "effect"
import { afterAll } from "vitest"
import WebSocket from "ws"
import {
  call,
  emulatorLayer,
  longMessage,
  mb,
  readUntilHeld,
  residentMemory,
  serverBehindRelay,
  serverProcess,
  upstreamSettled,
  withKey
} from "./stack.js"

interface Event {
  readonly type: string
  readonly data: Readonly<Record<string, unknown>>
}

interface Closed {
  readonly code: number
  readonly reason: string
}

/** A WebSocket client of the suite: counts what it receives, and lets a test wait for an event or the close. */
interface Peer {
  readonly ws: WebSocket
  readonly received: { messages: number; bytes: number; pings: number }
  /** Resolves with the first event matching `until` among those received from now on. */
  readonly expect: (until: (event: Event) => boolean) => Effect.Effect<Effect.Effect<Event, Error>>
  readonly send: (message: unknown) => Effect.Effect<void>
  readonly closed: Effect.Effect<Closed>
  readonly isOpen: () => boolean
}

class Refused extends Error {
  constructor(readonly status: number, readonly body: string) {
    super(`WebSocket refused with HTTP ${status}: ${body}`)
  }
}

const isEvent = (value: unknown): value is Event =>
  typeof value === "object" && value !== null && "type" in value && typeof value.type === "string" &&
  "data" in value && typeof value.data === "object" && value.data !== null

/** Opens `/v1/ws` with the suite's key; fails with `Refused` when the server answers the upgrade with a status. */
const connect = (base: string, options: WebSocket.ClientOptions = {}) =>
  Effect.acquireRelease(
    Effect.async<Peer, Refused | Error>((resume) => {
      const ws = new WebSocket(`${base.replace("http://", "ws://")}/v1/ws`, { headers: { authorization: withKey.authorization }, ...options })
      const received = { messages: 0, bytes: 0, pings: 0 }
      const waiters = new Set<{ readonly until: (event: Event) => boolean; readonly found: Deferred.Deferred<Event, Error> }>()
      const closed = Deferred.unsafeMake<Closed>(FiberId.none)
      ws.on("message", (data: Buffer) => {
        received.messages += 1
        received.bytes += data.length
        const event: unknown = JSON.parse(data.toString("utf8"))
        if (!isEvent(event)) return
        for (const waiter of waiters) {
          if (!waiter.until(event)) continue
          waiters.delete(waiter)
          Deferred.unsafeDone(waiter.found, Effect.succeed(event))
        }
      })
      ws.on("ping", () => {
        received.pings += 1
      })
      ws.on("close", (code, reason) => {
        Deferred.unsafeDone(closed, Effect.succeed({ code, reason: reason.toString("utf8") }))
        for (const waiter of waiters) Deferred.unsafeDone(waiter.found, Effect.fail(new Error(`closed (${code} ${reason.toString("utf8")}) while waiting`)))
      })
      // a send racing the server's close fails with EPIPE/ECONNRESET: the close code is what the tests look at
      ws.on("error", (error) => resume(Effect.fail(error)))
      ws.once("unexpected-response", (_request, response) => {
        const parts: Array<Buffer> = []
        response.on("data", (part: Buffer) => parts.push(part))
        response.on("end", () => resume(Effect.fail(new Refused(response.statusCode ?? 0, Buffer.concat(parts).toString("utf8")))))
      })
      ws.once("open", () =>
        resume(Effect.succeed({
          ws,
          received,
          expect: (until) =>
            Effect.sync(() => {
              const found = Deferred.unsafeMake<Event, Error>(FiberId.none)
              waiters.add({ until, found })
              return Deferred.await(found)
            }),
          send: (message) => Effect.sync(() => ws.send(typeof message === "string" ? message : JSON.stringify(message))),
          closed: Deferred.await(closed),
          isOpen: () => ws.readyState === WebSocket.OPEN
        })))
    }),
    (peer) => Effect.sync(() => peer.ws.terminate())
  )

const turn = (content: string) => ({ type: "turn", messages: [{ role: "user", content }] })
const isDone = (event: Event) => event.type === "done"
const isEnd = (event: Event) => event.type === "done" || event.type === "error"

/** A turn on `peer`, to its end; fails after `within`. */
const runTurn = (peer: Peer, content: string, within: Duration.DurationInput = "30 seconds") =>
  Effect.gen(function*() {
    const end = yield* peer.expect(isEnd)
    yield* peer.send(turn(content))
    return yield* end
  }).pipe(Effect.timeoutFail({ duration: within, onTimeout: () => new Error(`the turn ${JSON.stringify(content.slice(0, 40))} did not end`) }))

/** The suite's figures: each attempt against the server, and whether the server held. */
const figures: Array<{ readonly attempt: string; readonly held: boolean }> = []
const attempt = (name: string, held: boolean) => {
  figures.push({ attempt: name, held })
  assert.isTrue(held, name)
}
afterAll(() => {
  console.log(`WebSocket limits: ${figures.length} attempts, ${figures.filter((f) => f.held).length} held`)
  for (const figure of figures) console.log(`  ${figure.held ? "held" : "FAILED"}: ${figure.attempt}`)
})

// 16 characters per token frame: the answer to a message of 3 MB is ~380 000 frames, ~150 MB from Letta
const Live = Layer.mergeAll(emulatorLayer({ tokenSize: 16 }), NodeContext.layer)

layer(Live, { excludeTestServices: true })("WebSocket security", (it) => {
  it.effect("a client that stops reading holds the agent's stream back; cancel still works, then the socket serves on", () =>
    Effect.gen(function*() {
      // pings far apart: a client that does not read does not answer them either
      const { base, emulator, relay } = yield* serverBehindRelay({ PIPELINE_WS_PING_INTERVAL: "600", PIPELINE_WS_IDLE_TIMEOUT: "600" })
      const before = yield* residentMemory(base)
      const peer = yield* connect(base)
      const done = yield* peer.expect(isDone)
      const streamsBefore = (yield* emulator.stats.snapshot).total_streams
      peer.ws.pause()
      // a chat of its own: later turns of the agent's thread would quote this message back
      yield* peer.send({ ...turn(longMessage), chat_id: "slow-reader" })
      const streamOver = Effect.map(emulator.stats.snapshot, (stats) => stats.total_streams > streamsBefore && stats.active_streams === 0)
      const held = yield* readUntilHeld(() => relay.sent.bytes, streamOver, 1e6, Duration.seconds(3)).pipe(Effect.timeout("180 seconds"))
      const during = yield* residentMemory(base)
      const streamsOpen = (yield* emulator.stats.snapshot).active_streams
      yield* Console.log(
        `slow reader: the server read ${mb(held)} from Letta and stopped (the client had read ${peer.received.messages} events); ` +
          `resident memory ${mb(before)} → ${mb(during)}`
      )
      // the whole answer is ~150 MB from Letta (all of it read without backpressure); held back, the server reads
      // what the sockets' buffers take
      attempt(`a client that stops reading: ${mb(held)} read from Letta (bound 40 MB)`, held < 40e6 && streamsOpen === 1)

      // cancel while the client still reads nothing: the agent's stream closes at once
      const closedBefore = (yield* emulator.stats.snapshot).client_closed_streams
      yield* peer.send({ type: "cancel" })
      yield* Effect.orDie(upstreamSettled(Duration.seconds(15)))
      const stats = yield* emulator.stats.snapshot
      attempt("cancel from a client that reads nothing closes the agent's stream", stats.client_closed_streams === closedBefore + 1)

      // reading again: what was buffered, then the cancellation, then the socket takes another turn
      peer.ws.resume()
      const cancelled = yield* done.pipe(Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error("no done after resuming") }))
      assert.strictEqual(cancelled.data.stop_reason, "cancelled")
      const next = yield* runTurn(peer, "still there after the slow read?")
      attempt("the socket serves another turn after the slow read", next.type === "done" && next.data.stop_reason === "end_turn")
      yield* Console.log(`slow reader: after resuming it read ${peer.received.messages} events (${mb(peer.received.bytes)}), the cancellation, and one more turn`)
    }).pipe(Effect.scoped), { timeout: 240_000 })

  it.effect("a 60 MB message is refused with 1009 and a plain reason; the server keeps serving", () =>
    Effect.gen(function*() {
      const base = yield* Effect.orDie(serverProcess({}))
      const before = yield* residentMemory(base)
      const peer = yield* connect(base)
      const huge = JSON.stringify(turn("x".repeat(60 * 1024 * 1024)))
      yield* peer.send(huge)
      const closed = yield* peer.closed.pipe(Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error("a 60 MB message did not close the socket") }))
      const after = yield* residentMemory(base)
      yield* Console.log(`60 MB message: closed ${closed.code} "${closed.reason}"; resident memory ${mb(before)} → ${mb(after)}`)
      assert.include(closed.reason, "16777216 bytes")
      assert.include(closed.reason, "PIPELINE_MAX_BODY")
      attempt(`a 60 MB message: closed ${closed.code}`, closed.code === 1009)
      const other = yield* connect(base)
      const answer = yield* runTurn(other, "after the huge message")
      attempt("the server serves a new socket after the huge message", answer.type === "done" && answer.data.stop_reason === "end_turn")
      const health = yield* call(`${base}/health`)
      assert.strictEqual(health.status, 200)
    }).pipe(Effect.scoped), { timeout: 120_000 })

  it.effect("an idle socket is closed after PIPELINE_WS_IDLE_TIMEOUT, never during a turn; a peer that stops answering pings is closed", () =>
    Effect.gen(function*() {
      const idleBase = yield* Effect.orDie(serverProcess({ PIPELINE_WS_IDLE_TIMEOUT: "1", PIPELINE_WS_PING_INTERVAL: "600" }))
      const opened = yield* Clock.currentTimeMillis
      const idle = yield* connect(idleBase)
      const idleClosed = yield* idle.closed.pipe(Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("an idle socket stayed open") }))
      const idleFor = (yield* Clock.currentTimeMillis) - opened
      yield* Console.log(`idle: closed ${idleClosed.code} "${idleClosed.reason}" after ${idleFor} ms (timeout 1 s)`)
      assert.include(idleClosed.reason, "PIPELINE_WS_IDLE_TIMEOUT")
      attempt(`an idle socket: closed ${idleClosed.code} after ${idleFor} ms`, idleClosed.code === 1001 && idleFor >= 900)

      // the emulator's first byte comes after 5 s: a turn five times longer than the idle timeout
      const busy = yield* connect(idleBase)
      const slow = yield* runTurn(busy, "[[fault:slow-first-byte]] a slow turn")
      attempt("a socket whose turn outlasts the idle timeout stays open for the whole turn", slow.type === "done" && slow.data.stop_reason === "end_turn")
      const busyClosed = yield* busy.closed.pipe(Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("idle after its turn, the socket stayed open") }))
      attempt("once its turn is over, the socket is closed as idle", busyClosed.code === 1001)

      const pingBase = yield* Effect.orDie(serverProcess({ PIPELINE_WS_PING_INTERVAL: "1", PIPELINE_WS_IDLE_TIMEOUT: "600" }))
      const live = yield* connect(pingBase)
      const deadOpened = yield* Clock.currentTimeMillis
      const dead = yield* connect(pingBase, { autoPong: false })
      const deadClosed = yield* dead.closed.pipe(Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("a peer that never answers pings stayed open") }))
      const deadFor = (yield* Clock.currentTimeMillis) - deadOpened
      const liveOpen = live.isOpen()
      yield* Console.log(
        `pings: a peer that never answers was closed (${deadClosed.code}) after ${deadFor} ms and ${dead.received.pings} pings; ` +
          `the one that answers had ${live.received.pings} pings and stayed open`
      )
      attempt(`a peer that never answers pings: closed after ${deadFor} ms`, deadFor >= 900 && dead.received.pings >= 1)
      attempt("a peer that answers pings stays open and serves a turn", liveOpen && (yield* runTurn(live, "alive")).type === "done")
    }).pipe(Effect.scoped), { timeout: 120_000 })

  it.effect("the socket over PIPELINE_WS_MAX_SOCKETS is refused with 503 while the others keep working", () =>
    Effect.gen(function*() {
      const base = yield* Effect.orDie(serverProcess({ PIPELINE_WS_MAX_SOCKETS: "3" }))
      const open = [yield* connect(base), yield* connect(base), yield* connect(base)]
      const refusals: Array<Refused> = []
      for (let n = 0; n < 5; n++) {
        const refused = yield* Effect.flip(connect(base))
        assert.instanceOf(refused, Refused)
        if (refused instanceof Refused) refusals.push(refused)
      }
      yield* Console.log(`cap: 3 open, 5 more refused: ${refusals[0]?.status} ${refusals[0]?.body}`)
      for (const refused of refusals) assert.include(refused.body, "PIPELINE_WS_MAX_SOCKETS")
      attempt("5 sockets over a cap of 3: refused with 503 before the upgrade", refusals.every((refused) => refused.status === 503))
      const answers = yield* Effect.forEach(open, (peer, n) => runTurn(peer, `socket ${n} under the cap`), { concurrency: "unbounded" })
      attempt("the 3 sockets under the cap each serve a turn meanwhile", answers.every((answer) => answer.type === "done" && answer.data.stop_reason === "end_turn"))
      // a closed socket gives its place back (as soon as the server has seen the close)
      open[0]?.ws.close(1000)
      yield* Effect.flatMap(Effect.fromNullable(open[0]), (peer) => peer.closed)
      const again = yield* connect(base).pipe(
        Effect.retry({ while: (error) => error instanceof Refused, schedule: Schedule.spaced("100 millis"), times: 100 })
      )
      attempt("a socket closed under the cap frees its place", (yield* runTurn(again, "in the freed place")).type === "done")
    }).pipe(Effect.scoped), { timeout: 120_000 })
})

