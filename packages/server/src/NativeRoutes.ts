/**
 * Core's events, unchanged, for browsers and Effect clients: `POST /v1/pipe` as SSE (`id:`, `event:`, `data:`, comment
 * heartbeats) and `GET /v1/ws` as a WebSocket (one turn per message, `{"type":"cancel"}` aborts it, the socket stays
 * open across turns). Failures arrive as `error` events.
 *
 * The WebSocket is bounded as the SSE route is: a turn's events wait while more than {@link sendBufferBytes} are queued
 * for the client, so the agent's stream is read no faster than the client reads; a message over `PIPELINE_MAX_BODY`
 * closes the socket (1009); sockets are pinged every `PIPELINE_WS_PING_INTERVAL` and dropped when they stop answering,
 * closed (1001) after `PIPELINE_WS_IDLE_TIMEOUT` without a turn or a message, and refused (503, before the upgrade)
 * beyond `PIPELINE_WS_MAX_SOCKETS`.
 *
 * @since 0.1.0
 */
import { HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { JsonText, PipeRequest, StreamEvent } from "@letta-pipeline/core"
import { absurd, Chunk, Deferred, Duration, Effect, Exit, FiberHandle, Layer, Option, Queue, Schema, Stream } from "effect"
import type { IncomingMessage } from "node:http"
import { type RawData, WebSocket, WebSocketServer } from "ws"
import * as ApiError from "./ApiError.js"
import * as ChatTurn from "./ChatTurn.js"
import * as Http from "./Http.js"
import * as Metrics from "./Metrics.js"
import * as Middleware from "./Middleware.js"
import * as ServerConfig from "./ServerConfig.js"
import * as SseResponse from "./SseResponse.js"

const turnFields = {
  model: Schema.optional(Schema.String),
  messages: PipeRequest.ChatMessages,
  user_message: Schema.optional(Schema.String),
  conversation_id: Schema.optional(Schema.String),
  chat_id: Schema.optional(Schema.String),
  /** Who the turn is for, for `per-user` models: a user id, or Open WebUI's `{id, name}` (see `ChatUser`). */
  user: Schema.optional(Schema.Union(Schema.String, Schema.Struct({ id: Schema.String, name: Schema.optional(Schema.String) })))
}

/** Body of `POST /v1/pipe`. @category schemas */
export const PipeBody = Schema.Struct(turnFields)

/** What a WebSocket client sends. @category schemas */
export const ClientMessage = Schema.Union(
  Schema.Struct({ type: Schema.Literal("turn"), ...turnFields }),
  Schema.Struct({ type: Schema.Literal("cancel") })
)

const encodeEvent = Schema.encodeSync(StreamEvent.StreamEventJson)

/**
 * Bytes a WebSocket may hold queued for its client (1 MiB): past it, the next event waits until the client has read
 * what came before.
 *
 * @category constants
 */
export const sendBufferBytes = 1024 * 1024

const messageText = (data: RawData): string =>
  (Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)).toString("utf8")

const invalid = (message: string): StreamEvent.StreamEvent => ({
  type: "error",
  data: { error: "LettaError", reason: "InvalidRequest", message }
})

/**
 * The routes, behind the key (`Middleware.api`); what fails before a turn starts (a body, an upgrade) answers in
 * OpenAI's error body (`ApiError.openAiRoute`), a turn's failures are `error` events.
 *
 * @category layers
 */
export const layer: Layer.Layer<
  never,
  never,
  HttpLayerRouter.HttpRouter | ChatTurn.ChatTurn | ServerConfig.ServerConfig | Metrics.Metrics
> = HttpLayerRouter.addAll(Effect.gen(function*() {
  const turns = yield* ChatTurn.ChatTurn
  const settings = yield* ServerConfig.ServerConfig
  const responses = SseResponse.responder(settings.heartbeat)
  const metrics = yield* Metrics.Metrics

  /** A turn's events, failures included as events; prepared before the response starts. */
  const turnEvents = (
    body: ChatTurn.Input,
    raw: Readonly<Record<string, unknown>>,
    headers: Readonly<Record<string, string | undefined>>
  ): Effect.Effect<Stream.Stream<StreamEvent.StreamEvent>> =>
    Effect.match(turns.prepare(body, raw, headers), {
      onFailure: (error) =>
        error._tag === "UserRefused" || error._tag === "UserRequired"
          ? Stream.succeed(ApiError.userErrorEvent(error))
          : ApiError.toErrorEvent(Stream.fail(error)),
      onSuccess: (turn) => ApiError.toErrorEvent(turns.events(turn))
    })

  const pipe: Http.Handler<ApiError.Failure> = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const parsed = yield* Http.jsonBody(settings.maxBodyBytes)
    const body = yield* Http.decodeBody(PipeBody, parsed)
    const events = yield* turnEvents(body, Http.asRecord(parsed), request.headers)
    // every event is one frame, numbered from 1; failures are events already
    let sent = 0
    return yield* responses.respond(events, {
      onChunk: (chunk) => ({
        emit: Chunk.toReadonlyArray(Chunk.map(chunk, (event) => SseResponse.event(event.type, encodeEvent(event), ++sent)))
      }),
      onFailure: absurd,
      onEnd: () => ({ emit: [] })
    }, { track: metrics.trackEffect("pipe") })
  })

  const tooLarge = `message larger than ${settings.maxBodyBytes} bytes (PIPELINE_MAX_BODY)`
  /** ws closes on a message over `maxPayload` with 1009 and no reason (`receiverOnError`): this gives the reason. */
  class BoundedWebSocket extends WebSocket {
    override close(code?: number, data?: string | Buffer): void {
      super.close(code, code === 1009 && data === undefined ? tooLarge : data)
    }
  }
  // @effect/platform-node 0.108 upgrades with a WebSocketServer of its own that takes no options (no maxPayload), and
  // its Socket hides the ws socket (ping, bufferedAmount, pause): this route upgrades with its own server
  const server = yield* Effect.acquireRelease(
    Effect.sync(() =>
      new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: settings.maxBodyBytes, WebSocket: BoundedWebSocket })
    ),
    (wss) => Effect.async<void>((resume) => wss.close(() => resume(Effect.void)))
  )
  const sockets = yield* Effect.makeSemaphore(settings.wsMaxSockets)
  const idleMillis = Duration.toMillis(settings.wsIdleTimeout)
  const idleReason = `no turn and no message for ${Duration.format(settings.wsIdleTimeout)} (PIPELINE_WS_IDLE_TIMEOUT)`

  /**
   * The upgrade, with `wire` called on the socket before it can emit anything; `None` when the handshake was refused
   * (ws answered 400 itself) or the client left first.
   */
  const upgrade = (incoming: IncomingMessage, wire: (socket: WebSocket) => void) =>
    Effect.async<Option.Option<WebSocket>>((resume) => {
      const tcp = incoming.socket
      const left = () => resume(Effect.succeed(Option.none()))
      if (tcp.destroyed) return left()
      tcp.once("close", left)
      // the request's head is empty: a client sends no frame before it has the 101
      server.handleUpgrade(incoming, tcp, Buffer.alloc(0), (socket) => {
        tcp.off("close", left)
        wire(socket)
        resume(Effect.succeed(Option.some(socket)))
      })
      return Effect.sync(() => tcp.off("close", left))
    })

  /** A client's message; `InvalidBody` when it is not JSON or not a {@link ClientMessage}. */
  const readMessage = (data: RawData) =>
    Effect.flatMap(
      Effect.mapError(JsonText.parse(messageText(data)), (why) => new ApiError.InvalidBody({ message: `invalid message: ${why}` })),
      (json) => Http.decode("invalid message", ClientMessage, json)
    )

  /**
   * One socket, from the upgrade until it is closed (by the client, or here: idle, dead, oversized message). Its
   * turns take Open WebUI's headers from the upgrade request.
   */
  const session = (incoming: IncomingMessage, headers: Readonly<Record<string, string | undefined>>) =>
    Effect.gen(function*() {
      const clock = yield* Effect.clock
      const inbox = yield* Queue.unbounded<RawData>()
      const closed = yield* Deferred.make<void>()
      let answered = true
      let lastActive = clock.unsafeCurrentTimeMillis()
      const touch = Effect.sync(() => {
        lastActive = clock.unsafeCurrentTimeMillis()
      })
      const opened = yield* Effect.acquireRelease(
        upgrade(incoming, (socket) => {
          socket.on("message", (data) => {
            // one message at a time: reading pauses until it is handled, its answer included
            socket.pause()
            Queue.unsafeOffer(inbox, data)
          })
          socket.on("pong", () => {
            answered = true
          })
          // an oversized or malformed message: ws has already closed the socket with its code
          socket.on("error", () => {})
          socket.once("close", () => Deferred.unsafeDone(closed, Exit.void))
        }),
        // still open only when the server stops while the socket is in use
        (opened) =>
          Effect.sync(() => {
            if (Option.isSome(opened) && opened.value.readyState === WebSocket.OPEN) {
              opened.value.close(1001, "the server is shutting down")
            }
          })
      )
      if (Option.isNone(opened)) return
      const socket = opened.value

      const send = (event: StreamEvent.StreamEvent): Effect.Effect<void> =>
        Effect.suspend(() => {
          if (socket.readyState !== WebSocket.OPEN) return Effect.void
          const text = encodeEvent(event)
          if (socket.bufferedAmount < sendBufferBytes) return Effect.sync(() => socket.send(text))
          // the client reads slower than the agent writes: go on once this frame, and all before it, has left
          return Effect.async<void>((resume) => socket.send(text, () => resume(Effect.void)))
        })
      const current = yield* FiberHandle.make<void, never>()

      const onMessage = (data: RawData) =>
        Effect.gen(function*() {
          yield* touch
          const message = yield* readMessage(data)
          if (message.type === "cancel") {
            if (Option.isNone(FiberHandle.unsafeGet(current))) return yield* send(invalid("no turn is running"))
            yield* FiberHandle.clear(current)
            return yield* send(StreamEvent.done("cancelled", null))
          }
          const { type: _, ...body } = message
          if (Option.isSome(FiberHandle.unsafeGet(current))) {
            return yield* send(invalid("a turn is already running; send {\"type\":\"cancel\"} first"))
          }
          yield* FiberHandle.run(
            current,
            Effect.flatMap(turnEvents(body, body, headers), (events) => events.pipe(metrics.track("ws"), Stream.runForEach(send))).pipe(
              Effect.ensuring(touch)
            )
          )
        }).pipe(Effect.catchTag("InvalidBody", (error) => send(invalid(error.message))))

      const reader = Queue.take(inbox).pipe(
        Effect.flatMap(onMessage),
        Effect.zipRight(Effect.flatMap(Queue.isEmpty(inbox), (empty) =>
          Effect.sync(() => {
            if (empty) socket.resume()
          }))),
        Effect.forever
      )
      // a socket with a turn running is never idle
      const closeWhenIdle: Effect.Effect<void> = Effect.suspend(() => {
        const quiet = clock.unsafeCurrentTimeMillis() - lastActive
        const busy = Option.isSome(FiberHandle.unsafeGet(current))
        if (!busy && quiet >= idleMillis) return Effect.sync(() => socket.close(1001, idleReason))
        return Effect.zipRight(Effect.sleep(Duration.millis(busy ? idleMillis : idleMillis - quiet)), closeWhenIdle)
      })
      // a peer that has not answered the previous ping is gone (or stopped reading): drop it
      const heartbeat = Effect.sleep(settings.wsPingInterval).pipe(
        Effect.zipRight(Effect.sync(() => {
          if (!answered) return false
          answered = false
          socket.ping()
          return true
        })),
        Effect.repeat({ while: (alive) => alive }),
        Effect.zipRight(Effect.logInfo(`WebSocket dropped: no answer to a ping within ${Duration.format(settings.wsPingInterval)}`)),
        Effect.zipRight(Effect.sync(() => socket.terminate()))
      )
      yield* Effect.forkScoped(reader)
      yield* Effect.forkScoped(closeWhenIdle)
      yield* Effect.forkScoped(heartbeat)
      yield* Deferred.await(closed)
    }).pipe(Effect.scoped)

  const ws: Http.Handler<ApiError.Failure> = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const incoming = NodeHttpServerRequest.toIncomingMessage(request)
    // Node marks the requests it hands to "upgrade" listeners (Connection: upgrade, Upgrade: …)
    if (!("upgrade" in incoming && incoming.upgrade === true)) return yield* new ApiError.NotWebSocket()
    const served = yield* sockets.withPermitsIfAvailable(1)(session(incoming, request.headers))
    if (Option.isNone(served)) return yield* new ApiError.TooManySockets({ max: settings.wsMaxSockets })
    // after a session the socket is closed: the platform's answer to the request goes nowhere
    return HttpServerResponse.empty()
  })

  return [ApiError.openAiRoute("POST", "/v1/pipe", pipe), ApiError.openAiRoute("GET", "/v1/ws", ws)]
})).pipe(Layer.provide(Middleware.api.layer))
