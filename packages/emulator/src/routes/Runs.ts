/**
 * Runs: `GET /v1/runs/{run_id}`, its messages, and `POST /v1/runs/{run_id}/stream` (a background run followed again).
 *
 * @since 0.1.0
 */
import { HttpLayerRouter } from "@effect/platform"
import { LettaSchema } from "@letta-pipeline/core"
import { Chunk, Duration, Effect } from "effect"
import * as Http from "../internal/http.js"
import * as Requests from "../Requests.js"
import * as RouteError from "../RouteError.js"
import * as Store from "../Store.js"
import * as TurnRunner from "../TurnRunner.js"
import * as Wire from "../Wire.js"

const make = Effect.gen(function*() {
  const store = yield* Store.Store
  const turns = yield* TurnRunner.TurnRunner
  const run = Effect.flatMap(Http.pathId(LettaSchema.RunId, "run_id", "run"), (id) => Http.found("Run", id, store.run(id)))

  const messages = Effect.gen(function*() {
    const record = yield* run
    const params = yield* Http.query
    const all = Chunk.toReadonlyArray(record.messages)
    const ordered = params.get("order") === "desc" ? [...all].reverse() : all
    return Wire.jsonResponse(Http.page(ordered, params, 100).map((m) => Wire.encodeMessage(m)))
  })

  const resume = Effect.gen(function*() {
    const record = yield* run
    if (!record.run.background) {
      return yield* new RouteError.Refused({
        status: 400,
        detail: "Run was not created in background mode, so it cannot be retrieved."
      })
    }
    const request = yield* Http.body(Requests.RetrieveStreamRequest, { emptyIsObject: true })
    const interval = Duration.millis(Math.max(10, (request.poll_interval ?? 0.1) * 1000))
    return yield* turns.follow(record.run.id, request.starting_after ?? 0, interval)
  })

  return [
    HttpLayerRouter.route("GET", "/runs/:run_id", Effect.map(run, (record) => Wire.jsonResponse(record.run))),
    HttpLayerRouter.route("GET", "/runs/:run_id/messages", messages),
    HttpLayerRouter.route("POST", "/runs/:run_id/stream", resume)
  ]
})

/** @category layers */
export const layer = HttpLayerRouter.addAll(make)

