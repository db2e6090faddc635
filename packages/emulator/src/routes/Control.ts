/**
 * The emulator's own routes, for tests and benchmarks: `GET /_emulator/stats` and `POST /_emulator/faults`.
 *
 * @since 0.1.0
 */
import { HttpLayerRouter } from "@effect/platform"
import { Effect, Option } from "effect"
import * as ArmedFaults from "../ArmedFaults.js"
import * as Fault from "../Fault.js"
import * as Http from "../internal/http.js"
import * as Requests from "../Requests.js"
import * as RouteError from "../RouteError.js"
import * as Stats from "../Stats.js"
import * as Wire from "../Wire.js"

/** `GET /_emulator/stats`: `Stats.Snapshot`. @category layers */
export const stats = HttpLayerRouter.addAll(Effect.map(Stats.Stats, (stats) => [
  HttpLayerRouter.route("GET", "/_emulator/stats", Effect.map(stats.snapshot, (snapshot) => Wire.jsonResponse(snapshot)))
]))

/** `POST /_emulator/faults {"fault": "status:503", "count": 2}`: faults for the next requests. @category layers */
export const faults = HttpLayerRouter.addAll(Effect.map(ArmedFaults.ArmedFaults, (armed) => [
  HttpLayerRouter.route(
    "POST",
    "/_emulator/faults",
    Effect.gen(function*() {
      const request = yield* Http.body(Requests.ArmFaults)
      const fault = yield* Option.match(Fault.parse(request.fault), {
        onNone: () =>
          new RouteError.Refused({
            status: 422,
            detail: `unknown fault ${JSON.stringify(request.fault)}; one of ${Fault.kinds.join(", ")}`
          }),
        onSome: Effect.succeed
      })
      yield* armed.arm(fault, request.count)
      return Wire.jsonResponse({ armed: request.count, fault: request.fault })
    })
  )
]))
