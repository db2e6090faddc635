/**
 * Open WebUI's Pipelines protocol, so the server can be added as a Pipelines connection: `/pipelines`, valves (read,
 * JSON Schema, update without restart) and the filter `inlet`/`outlet` Open WebUI calls around every chat of a model
 * that carries a `pipeline` entry. Every route also under `/v1`; `GET /` is `PageRoutes`' (JSON here, the page for browsers).
 *
 * @since 0.1.0
 */
import { HttpLayerRouter } from "@effect/platform"
import { LettaSchema, OpenWebUITask, Pipeline, PipelineHooks } from "@letta-pipeline/core"
import { Context, Effect, Either, Layer, Schema } from "effect"
import * as ApiError from "./ApiError.js"
import * as Http from "./Http.js"
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

/** @category layers */
export const layer = Layer.effectDiscard(Effect.gen(function*() {
  const pipeline = yield* Pipeline.Pipeline
  const settings = yield* ServerConfig.ServerConfig
  const valves = yield* Valves.ValvesStore
  // only these services: the layer's whole context also holds its Scope, which would replace the request's and let
  // per-request resources (a turn's upstream stream) outlive the request
  const context = Context.pick(ServerConfig.ServerConfig)(
    yield* Effect.context<ServerConfig.ServerConfig>()
  )

  /** The pipeline's own id, a model id (an agent, or `<pipeline id>.<agent>`). */
  const known = (id: string): boolean =>
    id === settings.pipelineId || Schema.is(LettaSchema.AgentId)(id) || id.startsWith(`${settings.pipelineId}.`)

  const withPipeline = (then: (id: string) => Http.Handler): Http.Handler =>
    Effect.flatMap(HttpLayerRouter.params, (params) => {
      const id = params.pipeline_id ?? ""
      return known(id) ? then(id) : Effect.succeed(ApiError.detail(404, `Pipeline ${id} not found`))
    })

  const pipelines: Http.Handler = Effect.succeed(Http.json({
    data: [{ id: settings.pipelineId, name: pipeline.name, type: "pipe", valves: true }]
  }))

  const getValves = withPipeline(() => Effect.map(valves.get, (v) => Http.json(v)))

  const valvesSpec = withPipeline(() => Effect.succeed(Http.json(Valves.spec)))

  const updateValves = withPipeline(() =>
    Effect.gen(function*() {
      const body = yield* Http.jsonBody
      if (Either.isLeft(body)) return ApiError.detail(body.left.status, body.left.message)
      const updated = yield* Effect.either(valves.update(body.right))
      if (Either.isLeft(updated)) return ApiError.detail(422, yield* Http.schemaProblem("invalid valves", updated.left))
      return Http.json(updated.right)
    }).pipe(Effect.provide(context))
  )

  const filter = (hook: "inlet" | "outlet") =>
    withPipeline(() =>
      Effect.gen(function*() {
        const body = yield* Http.jsonBody
        if (Either.isLeft(body)) return ApiError.detail(body.left.status, body.left.message)
        const request = yield* Http.decodeBody(FilterRequest, body.right)
        if (Either.isLeft(request)) return ApiError.detail(422, request.left.message)
        const user = request.right.user ?? undefined
        const result = yield* Effect.either(
          hook === "inlet"
            ? Effect.map(pipeline.inlet(request.right.body, user), keepMetadata)
            : pipeline.outlet(request.right.body, user)
        )
        return Either.match(result, {
          onLeft: (error) => {
            const problem = ApiError.fromPipelineError(error)
            return ApiError.detail(problem.status, problem.message)
          },
          onRight: (filtered) => Http.json(filtered)
        })
      }).pipe(Effect.provide(context))
    )

  yield* Http.route("GET", "/v1", status)
  yield* Http.route("GET", "/pipelines", pipelines, { alsoV1: true })
  yield* Http.route("GET", "/:pipeline_id/valves", getValves, { alsoV1: true })
  yield* Http.route("GET", "/:pipeline_id/valves/spec", valvesSpec, { alsoV1: true })
  yield* Http.route("POST", "/:pipeline_id/valves/update", updateValves, { alsoV1: true })
  yield* Http.route("POST", "/:pipeline_id/filter/inlet", filter("inlet"), { alsoV1: true })
  yield* Http.route("POST", "/:pipeline_id/filter/outlet", filter("outlet"), { alsoV1: true })
}))
