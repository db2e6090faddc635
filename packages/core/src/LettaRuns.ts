/**
 * Letta's background runs, a capability only the REST API has: start a turn as a run, follow its status and messages
 * (`LETTA_MODE=poll`), cancel runs. The App Server has no runs, so its layer does not provide this service: a pipeline
 * in poll mode over it fails when its layer is built, not at its first turn.
 *
 * `LettaClient.layer` (and `layerSettings` / `layerConfig`) provide it next to `LettaClient`.
 *
 * @since 0.1.0
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Context, Effect, Layer, Schema } from "effect"
import { checkAgentId, checkRunId } from "./internal/ids.js"
import * as RestTransport from "./internal/restTransport.js"
import * as LettaConfig from "./LettaConfig.js"
import type { PipelineError } from "./LettaError.js"
import * as LettaSchema from "./LettaSchema.js"

/** Query of `GET /v1/runs/{id}/messages`. @category models */
export interface ListRunMessagesQuery {
  /** Only messages after this message id. */
  readonly after?: string | undefined
  readonly limit?: number | undefined
}

/** @category models */
export interface Service {
  /** `POST /v1/agents/{id}/messages/async`: starts a background run (sent again while Letta answers 409 busy). */
  readonly createRun: (agentId: string, body: LettaSchema.LettaRequest) => Effect.Effect<LettaSchema.Run, PipelineError>
  /** `GET /v1/runs/{id}`. */
  readonly getRun: (runId: string) => Effect.Effect<LettaSchema.Run, PipelineError>
  /** `GET /v1/runs/{id}/messages`, oldest first. */
  readonly listRunMessages: (
    runId: string,
    query?: ListRunMessagesQuery
  ) => Effect.Effect<ReadonlyArray<LettaSchema.LettaMessage>, PipelineError>
  /** `POST /v1/agents/{id}/messages/cancel`: the given runs, or all of the agent's; answered run id → status. */
  readonly cancelRuns: (
    agentId: string,
    runIds?: ReadonlyArray<string>
  ) => Effect.Effect<Readonly<Record<string, string>>, PipelineError>
}

/** @category services */
export class LettaRuns extends Context.Tag("@letta-pipeline/core/LettaRuns")<LettaRuns, Service>() {}

/**
 * Builds the service over an `HttpClient`, configured by `LettaConfig` (the same transport as `LettaClient.make`).
 *
 * @category constructors
 */
export const make: Effect.Effect<Service, never, HttpClient.HttpClient | LettaConfig.LettaConfig> = Effect.gen(
  function*() {
    const transport = RestTransport.make(
      RestTransport.optionsOf(yield* HttpClient.HttpClient, yield* LettaConfig.LettaConfig)
    )
    return LettaRuns.of({
      createRun: Effect.fn("LettaRuns.createRun")(function*(agentId: string, body: LettaSchema.LettaRequest) {
        const id = yield* checkAgentId(agentId)
        return yield* transport.json(
          RestTransport.post(`/v1/agents/${id}/messages/async`, Schema.encodeSync(LettaSchema.LettaRequest)(body)),
          { schema: LettaSchema.Run, what: "run", ids: { agentId: id }, waitWhileBusy: true }
        )
      }),
      getRun: Effect.fn("LettaRuns.getRun")(function*(runId: string) {
        const id = yield* checkRunId(runId)
        return yield* transport.json(HttpClientRequest.get(`/v1/runs/${id}`), { schema: LettaSchema.Run, what: "run" })
      }),
      listRunMessages: Effect.fn("LettaRuns.listRunMessages")(function*(
        runId: string,
        query: ListRunMessagesQuery = {}
      ) {
        const id = yield* checkRunId(runId)
        const request = HttpClientRequest.get(`/v1/runs/${id}/messages`, {
          urlParams: {
            order: "asc",
            ...(query.after === undefined ? {} : { after: query.after }),
            ...(query.limit === undefined ? {} : { limit: String(query.limit) })
          }
        })
        return yield* transport.json(request, { schema: LettaSchema.MessageList, what: "run messages" })
      }),
      cancelRuns: Effect.fn("LettaRuns.cancelRuns")(function*(agentId: string, runIds?: ReadonlyArray<string>) {
        const id = yield* checkAgentId(agentId)
        if (runIds !== undefined) yield* Effect.forEach(runIds, checkRunId)
        return yield* transport.json(
          RestTransport.post(`/v1/agents/${id}/messages/cancel`, runIds === undefined ? {} : { run_ids: runIds }),
          {
            schema: Schema.Record({ key: Schema.String, value: Schema.String }),
            what: "cancel response",
            ids: { agentId: id }
          }
        )
      })
    })
  }
)

/**
 * The runs of the REST API over whatever `HttpClient` and `LettaConfig` are provided.
 *
 * @category layers
 */
export const layer: Layer.Layer<LettaRuns, never, HttpClient.HttpClient | LettaConfig.LettaConfig> = Layer.effect(
  LettaRuns,
  make
)

/**
 * Runs whose methods are the given ones; any other method dies with "not implemented" when called.
 *
 * @category layers
 */
export const layerTest = (implementation: Partial<Service>): Layer.Layer<LettaRuns> => {
  const missing = (name: string) => Effect.dieMessage(`LettaRuns.${name} is not implemented in this test`)
  return Layer.succeed(
    LettaRuns,
    LettaRuns.of({
      createRun: () => missing("createRun"),
      getRun: () => missing("getRun"),
      listRunMessages: () => missing("listRunMessages"),
      cancelRuns: () => missing("cancelRuns"),
      ...implementation
    })
  )
}
