/**
 * Open WebUI's Pipelines protocol, so the server can be added as a Pipelines connection: `/pipelines`, valves (read,
 * JSON Schema, update without restart) and the filter `inlet`/`outlet` Open WebUI calls around every chat of a model
 * that carries a `pipeline` entry. Every route also under `/v1`; `GET /` is `PageRoutes`' (JSON here, the page for browsers).
 *
 * @since 0.1.0
 */
import { HttpLayerRouter } from "@effect/platform"
import { LettaSchema, OpenWebUITask, Pipeline, PipelineHooks } from "@letta-pipeline/core"
import { Effect, Layer, Schema } from "effect"
import * as ApiError from "./ApiError.js"
import * as Http from "./Http.js"
import type * as Metrics from "./Metrics.js"
import * as Middleware from "./Middleware.js"
import * as ServerConfig from "./ServerConfig.js"
import * as Valves from "./Valves.js"

/** What Open WebUI posts to `/{id}/filter/inlet` and `/outlet`. @category schemas */
export const FilterRequest = Schema.Struct({
  body: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  user: Schema.optional(Schema.NullOr(PipelineHooks.FilterUser))
})

/**
 * What `GET /` and `GET /v1` answer a Pipelines client (the chat page answers browsers at `/`).
 *
 * @category constructors
 */
export const status: Http.Handler = Effect.sync(() => Http.json({ status: true }))

/**
 * Open WebUI drops `metadata` before the chat request reaches a model, so the inlet copies what the pipeline needs (the
 * chat id for its thread, the task to answer locally) to top-level fields that survive, and marks the body as Open
 * WebUI's (`openwebui: true`, which decides whether Open WebUI's extensions such as status events are sent). Each
 * field is read on its own: a task in a new chat has `chat_id: null`, and its task must still come through.
 */
export const keepMetadata = (body: PipelineHooks.FilterBody): PipelineHooks.FilterBody => {
  const chatId = OpenWebUITask.metadataField(body, "chat_id")
  const task = OpenWebUITask.metadataField(body, "task")
  return {
    ...body,
    openwebui: true,
    ...(chatId === undefined ? {} : { chat_id: chatId }),
    ...(task === undefined ? {} : { task })
  }
}

/**
 * The routes, each also under `/v1`; failures answer in FastAPI's `{"detail"}` (`ApiError.pipelinesRoute`), behind
 * the key (`Middleware.api`).
 *
 * @category layers
 */
export const layer: Layer.Layer<
  never,
  never,
  HttpLayerRouter.HttpRouter | Pipeline.Pipeline | Valves.ValvesStore | ServerConfig.ServerConfig | Metrics.Metrics
> = HttpLayerRouter.addAll(Effect.gen(function*() {
  const pipeline = yield* Pipeline.Pipeline
  const settings = yield* ServerConfig.ServerConfig
  const valves = yield* Valves.ValvesStore

  /** The pipeline's own id, a model id (an agent, or `<pipeline id>.<agent>`). */
  const known = (id: string): boolean =>
    id === settings.pipelineId || Schema.is(LettaSchema.AgentId)(id) || id.startsWith(`${settings.pipelineId}.`)

  /** The route's `:pipeline_id` names this pipeline (or one of its models). */
  const ourPipeline = Effect.flatMap(HttpLayerRouter.params, (params) => {
    const id = params.pipeline_id ?? ""
    return known(id) ? Effect.void : new ApiError.PipelineNotFound({ id })
  })

  const pipelines: Http.Handler = Effect.succeed(Http.json({
    data: [{ id: settings.pipelineId, name: pipeline.name, type: "pipe", valves: true }]
  }))

  const getValves: Http.Handler<ApiError.Failure> = Effect.zipRight(ourPipeline, Effect.map(valves.get, (v) => Http.json(v)))

  const valvesSpec: Http.Handler<ApiError.Failure> = Effect.as(ourPipeline, Http.json(Valves.spec))

  const updateValves: Http.Handler<ApiError.Failure> = Effect.gen(function*() {
    yield* ourPipeline
    const body = yield* Http.jsonBody(settings.maxBodyBytes)
    const updated = yield* Effect.catchTag(valves.update(body), "ParseError", Http.invalidBody("invalid valves"))
    return Http.json(updated)
  })

  const filter = (hook: "inlet" | "outlet"): Http.Handler<ApiError.Failure> =>
    Effect.gen(function*() {
      yield* ourPipeline
      const body = yield* Http.jsonBody(settings.maxBodyBytes)
      const request = yield* Http.decodeBody(FilterRequest, body)
      const user = request.user ?? undefined
      const filtered = hook === "inlet"
        ? yield* Effect.map(pipeline.inlet(request.body, user), keepMetadata)
        : yield* pipeline.outlet(request.body, user)
      return Http.json(filtered)
    })

  return [
    ApiError.pipelinesRoute("GET", "/v1", status),
    ...Http.withV1Twins([
      ApiError.pipelinesRoute("GET", "/pipelines", pipelines),
      ApiError.pipelinesRoute("GET", "/:pipeline_id/valves", getValves),
      ApiError.pipelinesRoute("GET", "/:pipeline_id/valves/spec", valvesSpec),
      ApiError.pipelinesRoute("POST", "/:pipeline_id/valves/update", updateValves),
      ApiError.pipelinesRoute("POST", "/:pipeline_id/filter/inlet", filter("inlet")),
      ApiError.pipelinesRoute("POST", "/:pipeline_id/filter/outlet", filter("outlet"))
    ])
  ]
})).pipe(Layer.provide(Middleware.api.layer))
