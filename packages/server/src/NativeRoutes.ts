/**
 * Core's events, unchanged, for browsers and Effect clients: `POST /v1/pipe` as SSE (`id:`, `event:`, `data:`, comment
 * heartbeats) and `GET /v1/ws` as a WebSocket (one turn per message, `{"type":"cancel"}` aborts it, the socket stays
 * open across turns). Failures arrive as `error` events.
 *
 * @since 0.1.0
 */
import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { LettaConfig, PipeRequest, StreamEvent } from "@letta-pipeline/core"
import { Context, Effect, Either, FiberHandle, Layer, Option, Schema, Stream } from "effect"
import * as ApiError from "./ApiError.js"
import * as ChatThreads from "./ChatThreads.js"
import * as Http from "./Http.js"
import * as Metrics from "./Metrics.js"
import * as Models from "./Models.js"
import * as ServerConfig from "./ServerConfig.js"
import * as SseResponse from "./SseResponse.js"
import * as Valves from "./Valves.js"

const turnFields = {
  model: Schema.optional(Schema.String),
  messages: Schema.Array(PipeRequest.ChatMessage),
  user_message: Schema.optional(Schema.String),
  conversation_id: Schema.optional(Schema.String),
  chat_id: Schema.optional(Schema.String)
}

/** Body of `POST /v1/pipe`. @category schemas */
export const PipeBody = Schema.Struct(turnFields)

/** What a WebSocket client sends. @category schemas */
export const ClientMessage = Schema.Union(
  Schema.Struct({ type: Schema.Literal("turn"), ...turnFields }),
  Schema.Struct({ type: Schema.Literal("cancel") })
)
const decodeClientMessage = Schema.decodeEither(Schema.parseJson(ClientMessage))

const encodeEvent = Schema.encodeSync(StreamEvent.StreamEventJson)

const invalid = (message: string): StreamEvent.StreamEvent => ({
  type: "error",
  data: { error: "LettaError", reason: "InvalidRequest", message }
})

/** @category layers */
export const layer = Layer.effectDiscard(Effect.gen(function*() {
  const threads = yield* ChatThreads.ChatThreads
  const settings = yield* ServerConfig.ServerConfig
  const metrics = yield* Metrics.Metrics
  // only these services: the layer's whole context also holds its Scope, which would replace the request's and let
  // per-request resources (a turn's upstream stream) outlive the request
  const context = Context.pick(Models.Models, ChatThreads.ChatThreads, Valves.ValvesStore, ServerConfig.ServerConfig, LettaConfig.LettaConfig)(
    yield* Effect.context<Models.Models | ChatThreads.ChatThreads | Valves.ValvesStore | ServerConfig.ServerConfig | LettaConfig.LettaConfig>()
  )

  /** A turn's events, failures included as events. */
  const turnEvents = (body: typeof PipeBody.Type, raw: Readonly<Record<string, unknown>>) =>
    Effect.match(Http.turnRequest(body, raw), {
      onFailure: (error): Stream.Stream<StreamEvent.StreamEvent> => ApiError.toErrorEvent(Stream.fail(error)),
      onSuccess: (turn) => ApiError.toErrorEvent(threads.pipe(turn.request, turn.chat))
    }).pipe(Effect.provide(context))

  const pipe: Http.Handler = Effect.gen(function*() {
    const parsed = yield* Http.jsonBody
    if (Either.isLeft(parsed)) return ApiError.openAi(parsed.left)
    const body = Http.decodeBody(PipeBody, parsed.right)
    if (Either.isLeft(body)) return ApiError.openAi(body.left)
    const events = yield* turnEvents(body.right, Http.asRecord(parsed.right))
    const frames = events.pipe(
      Stream.zipWithIndex,
      Stream.map(([event, index]) => SseResponse.event(event.type, encodeEvent(event), index + 1)),
      metrics.track("pipe")
    )
    return yield* SseResponse.make(frames, settings.heartbeat)
  }).pipe(Effect.provide(context))

  const ws: Http.Handler = Effect.gen(function*() {
    const socket = yield* Effect.either(HttpServerRequest.upgrade)
    if (Either.isLeft(socket)) return ApiError.openAi(ApiError.badRequest("expected a WebSocket upgrade"))
    const write = yield* socket.right.writer
    const send = (event: StreamEvent.StreamEvent) => write(encodeEvent(event)).pipe(Effect.ignore)
    const current = yield* FiberHandle.make<void, never>()
    const decoder = new TextDecoder()

    const onMessage = (data: string | Uint8Array) =>
      Effect.gen(function*() {
        const message = decodeClientMessage(typeof data === "string" ? data : decoder.decode(data))
        if (Either.isLeft(message)) {
          return yield* send(invalid(`invalid message: expected {"type":"turn",…} or {"type":"cancel"}`))
        }
        if (message.right.type === "cancel") {
          if (Option.isNone(FiberHandle.unsafeGet(current))) return yield* send(invalid("no turn is running"))
          yield* FiberHandle.clear(current)
          return yield* send(StreamEvent.done("cancelled", null))
        }
        const { type: _, ...body } = message.right
        if (Option.isSome(FiberHandle.unsafeGet(current))) {
          return yield* send(invalid("a turn is already running; send {\"type\":\"cancel\"} first"))
        }
        yield* FiberHandle.run(
          current,
          Effect.flatMap(turnEvents(body, body), (events) => events.pipe(metrics.track("ws"), Stream.runForEach(send)))
        )
      })

    yield* socket.right.runRaw(onMessage).pipe(Effect.ignore)
    return HttpServerResponse.empty()
  })

  yield* Http.route("POST", "/v1/pipe", pipe)
  yield* Http.route("GET", "/v1/ws", ws)
}))
