/**
 * `GET /v1/models` and `POST /v1/chat/completions` (also without `/v1`): Letta agents as OpenAI models. The two model
 * lists differ on purpose: `/v1/models` is OpenAI's plain list, for an Open WebUI "OpenAI API" connection at `…/v1`;
 * `/models` is the Pipelines flavour, for a connection at the server's root, which Open WebUI then treats as a
 * Pipelines server (`open_webui/routers/pipelines.py`: a connection whose `/models` has a `pipelines` key; a model with a
 * `pipeline` field gets the inlet filter call and `user` in its body).
 *
 * @since 0.1.0
 */
import { HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { ChatStream } from "@letta-pipeline/core"
import { Chunk, Clock, Effect, Layer, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import * as ApiError from "./ApiError.js"
import * as ChatTurn from "./ChatTurn.js"
import * as Http from "./Http.js"
import * as Metrics from "./Metrics.js"
import * as Middleware from "./Middleware.js"
import * as Models from "./Models.js"
import * as OpenAi from "./OpenAi.js"
import * as ServerConfig from "./ServerConfig.js"
import * as SseResponse from "./SseResponse.js"

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

/**
 * The routes; failures answer in OpenAI's error body (`ApiError.openAiRoute`), behind the key (`Middleware.api`).
 *
 * @category layers
 */
export const layer: Layer.Layer<
  never,
  never,
  HttpLayerRouter.HttpRouter | ChatTurn.ChatTurn | Models.Models | ServerConfig.ServerConfig | Metrics.Metrics
> = HttpLayerRouter.addAll(Effect.gen(function*() {
  const turns = yield* ChatTurn.ChatTurn
  const models = yield* Models.Models
  const settings = yield* ServerConfig.ServerConfig
  const responses = SseResponse.responder(settings.heartbeat)
  const metrics = yield* Metrics.Metrics

  const listModels = (flavour: "openai" | "pipelines"): Http.Handler<ApiError.Failure> =>
    Effect.map(models.list, (agents) => {
      const data = agents.map((agent) => ({
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

  const chatCompletions: Http.Handler<ApiError.Failure> = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const parsed = yield* Http.jsonBody(settings.maxBodyBytes)
    const chat = yield* Http.decodeBody(OpenAi.ChatCompletionRequest, parsed)
    const raw = Http.asRecord(parsed)
    const turn = yield* turns.prepare(chat, raw, request.headers)
    const options = {
      id: `chatcmpl-${randomUUID()}`,
      created: Math.floor((yield* Clock.currentTimeMillis) / 1000),
      model: chat.model,
      toolResultMax: settings.toolResultMax
    }
    const events = turns.events(turn)
    const openWebUI = Http.fromOpenWebUI(request.headers, raw)
    // Open WebUI's markup only for Open WebUI; every other client as the server is set (readable lines by default)
    const toolCalls: OpenAi.ToolCallStyle = openWebUI ? turn.valves.openwebui_tool_calls : settings.toolCalls

    if (chat.stream !== true) {
      const list = Chunk.toReadonlyArray(yield* Stream.runCollect(events))
      const collected = yield* ChatStream.collect(Stream.fromIterable(list))
      return HttpServerResponse.text(OpenAi.encodeCompletion(OpenAi.toCompletion({ ...options, toolCalls }, list, collected)), {
        contentType: "application/json"
      })
    }

    const statusEvents = turn.valves.status_events === "on" || (turn.valves.status_events === "auto" && openWebUI)
    const frames = OpenAi.sseFrames({
      ...options,
      // Open WebUI asks for usage only for models an admin marked with the usage capability, yet stores it always
      includeUsage: chat.stream_options?.include_usage === true || openWebUI,
      statusEvents,
      toolCalls
    }, ApiError.errorEvent)
    return yield* responses.respond(events, frames, {
      // a failure before the first event (or within PIPELINE_FIRST_EVENT_WAIT) still gets its HTTP status
      firstEventWait: settings.firstEventWait,
      onFailure: ApiError.logFull,
      track: metrics.trackEffect("openai")
    })
  })

  return [
    ApiError.openAiRoute("GET", "/models", listModels("pipelines")),
    ApiError.openAiRoute("GET", "/v1/models", listModels("openai")),
    ...Http.withV1Twins([ApiError.openAiRoute("POST", "/chat/completions", chatCompletions)])
  ]
})).pipe(Layer.provide(Middleware.api.layer))
