/**
 * `GET /v1/models` and `POST /v1/chat/completions` (also without `/v1`): Letta agents as OpenAI models. The two model
 * lists differ on purpose: `/v1/models` is OpenAI's plain list, for an Open WebUI "OpenAI API" connection at `…/v1`;
 * `/models` is the Pipelines flavour, for a connection at the server's root, which Open WebUI then treats as a
 * Pipelines server (`open_webui/routers/pipelines.py`: a connection whose `/models` has a `pipelines` key; a model with a
 * `pipeline` field gets the inlet filter call and `user` in its body).
 *
 * @since 0.1.0
 */
import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { ChatStream, LettaConfig } from "@letta-pipeline/core"
import { Chunk, Clock, Context, Effect, Either, Layer, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import * as ApiError from "./ApiError.js"
import * as ChatThreads from "./ChatThreads.js"
import * as Http from "./Http.js"
import * as Metrics from "./Metrics.js"
import * as Models from "./Models.js"
import * as OpenAi from "./OpenAi.js"
import * as ServerConfig from "./ServerConfig.js"
import * as SseResponse from "./SseResponse.js"
import * as Valves from "./Valves.js"

const Model = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  object: Schema.Literal("model"),
  created: Schema.Number,
  owned_by: Schema.Literal("letta"),
  description: Schema.optional(Schema.String)
})

/** `GET /v1/models`: OpenAI's model list (`name` and `description` are read by Open WebUI). */
export const ModelList = Schema.Struct({ object: Schema.Literal("list"), data: Schema.Array(Model) })

/** `GET /models`: the Pipelines flavour, OpenAI's list plus `pipelines: true` and a `pipeline` per model. */
export const PipelinesModelList = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(Schema.Struct({
    ...Model.fields,
    pipeline: Schema.Struct({ type: Schema.Literal("pipe"), valves: Schema.Boolean })
  })),
  pipelines: Schema.Literal(true)
})
const encodeModels = Schema.encodeSync(Schema.parseJson(ModelList))
const encodePipelinesModels = Schema.encodeSync(Schema.parseJson(PipelinesModelList))

const unixSeconds = (iso: string | null | undefined): number => {
  const millis = iso === null || iso === undefined ? Number.NaN : Date.parse(iso)
  return Number.isNaN(millis) ? 0 : Math.floor(millis / 1000)
}

/** @category layers */
export const layer = Layer.effectDiscard(Effect.gen(function*() {
  const threads = yield* ChatThreads.ChatThreads
  const models = yield* Models.Models
  const settings = yield* ServerConfig.ServerConfig
  const valves = yield* Valves.ValvesStore
  const metrics = yield* Metrics.Metrics
  // only these services: the layer's whole context also holds its Scope, which would replace the request's and let
  // per-request resources (a turn's upstream stream) outlive the request
  const context = Context.pick(Models.Models, ChatThreads.ChatThreads, Valves.ValvesStore, ServerConfig.ServerConfig, LettaConfig.LettaConfig)(
    yield* Effect.context<Models.Models | ChatThreads.ChatThreads | Valves.ValvesStore | ServerConfig.ServerConfig | LettaConfig.LettaConfig>()
  )

  const listModels = (flavour: "openai" | "pipelines"): Http.Handler =>
    Effect.gen(function*() {
      const listed = yield* Effect.either(models.list)
      if (Either.isLeft(listed)) return ApiError.openAi(yield* ApiError.report(listed.left))
      const data = listed.right.map((agent) => ({
        id: agent.id,
        name: agent.name,
        object: "model" as const,
        created: unixSeconds(agent.created_at),
        owned_by: "letta" as const,
        ...(agent.description === null || agent.description === undefined ? {} : { description: agent.description })
      }))
      return HttpServerResponse.text(
        flavour === "openai"
          ? encodeModels({ object: "list", data })
          : encodePipelinesModels({
            object: "list",
            data: data.map((model) => ({ ...model, pipeline: { type: "pipe" as const, valves: true } })),
            pipelines: true
          }),
        { contentType: "application/json" }
      )
    })

  const chatCompletions: Http.Handler = Effect.gen(function*() {
    const parsed = yield* Http.jsonBody
    if (Either.isLeft(parsed)) return ApiError.openAi(parsed.left)
    const chat = yield* Http.decodeBody(OpenAi.ChatCompletionRequest, parsed.right)
    if (Either.isLeft(chat)) return ApiError.openAi(chat.left)
    const raw = Http.asRecord(parsed.right)
    const turn = yield* Effect.either(Http.turnRequest(chat.right, raw))
    if (Either.isLeft(turn)) return ApiError.openAi(yield* ApiError.report(turn.left))
    const options = {
      id: `chatcmpl-${randomUUID()}`,
      created: Math.floor((yield* Clock.currentTimeMillis) / 1000),
      model: chat.right.model,
      toolResultMax: settings.toolResultMax
    }
    const events = threads.pipe(turn.right.request, turn.right.chat)
    const request = yield* HttpServerRequest.HttpServerRequest
    const current = yield* valves.get
    const openWebUI = Http.fromOpenWebUI(request.headers, raw)
    // Open WebUI's markup only for Open WebUI; every other client as the server is set (readable lines by default)
    const toolCalls: OpenAi.ToolCallStyle = openWebUI ? current.openwebui_tool_calls : settings.toolCalls

    if (chat.right.stream !== true) {
      const all = yield* Effect.either(Stream.runCollect(events))
      if (Either.isLeft(all)) return ApiError.openAi(yield* ApiError.report(all.left))
      const list = Chunk.toReadonlyArray(all.right)
      const collected = yield* ChatStream.collect(Stream.fromIterable(list))
      return HttpServerResponse.text(OpenAi.encodeCompletion(OpenAi.toCompletion({ ...options, toolCalls }, list, collected)), {
        contentType: "application/json"
      })
    }

    const statusEvents = current.status_events === "on" || (current.status_events === "auto" && openWebUI)
    const peeked = yield* SseResponse.peek(events, settings.firstEventWait)
    if (Either.isLeft(peeked)) return ApiError.openAi(yield* ApiError.report(peeked.left))
    const frames = peeked.right.pipe(
      ApiError.toErrorEvent,
      OpenAi.toChunks({
        ...options,
        // Open WebUI asks for usage only for models an admin marked with the usage capability, yet stores it always
        includeUsage: chat.right.stream_options?.include_usage === true || openWebUI,
        statusEvents,
        toolCalls
      }),
      Stream.map(SseResponse.data),
      Stream.concat(Stream.succeed(SseResponse.done)),
      metrics.track("openai")
    )
    return yield* SseResponse.make(frames, settings.heartbeat)
  }).pipe(Effect.provide(context))

  yield* Http.route("GET", "/models", listModels("pipelines"))
  yield* Http.route("GET", "/v1/models", listModels("openai"))
  yield* Http.route("POST", "/chat/completions", chatCompletions, { alsoV1: true })
}))
