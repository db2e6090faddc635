/**
 * What every route of the emulator shares, as `HttpLayerRouter` middleware that `Routes` composes per group of
 * routes: counting requests, answering route errors as Letta does, armed faults, the `--secure` password and the
 * per-request faults (`X-Emulator-Fault`, `EMULATOR_FAULT`).
 *
 * A middleware sees the request before the ones it is `combine`d into: in `a.combine(b)`, `b` runs first and `a`
 * around the handler.
 *
 * @since 0.1.0
 */
import { HttpLayerRouter, HttpServerRequest, type HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Context, Effect, Option, Redacted } from "effect"
import * as ArmedFaults from "./ArmedFaults.js"
import * as EmulatorConfig from "./EmulatorConfig.js"
import * as Fault from "./Fault.js"
import * as RouteError from "./RouteError.js"
import * as Stats from "./Stats.js"
import * as Wire from "./Wire.js"

/** A route's handler as middleware sees it: its errors (`unhandled` by the middleware) and requirements already set. */
type App<E, R = never> = Effect.Effect<HttpServerResponse.HttpServerResponse, E | HttpLayerRouter.unhandled, R>

/**
 * The fault armed (`POST /_emulator/faults`) for this request, set by {@link takeArmedFault}; none where that
 * middleware is not applied.
 *
 * @category services
 */
export class ArmedFault extends Context.Reference<ArmedFault>()("@letta-pipeline/emulator/Middleware/ArmedFault", {
  defaultValue: (): Option.Option<Fault.Fault> => Option.none()
}) {}

/**
 * Counts the request in the stats under its method and route template, e.g. `POST /v1/agents/{agent_id}/messages`.
 *
 * @category middleware
 */
export const countRequests = HttpLayerRouter.middleware(Effect.map(Stats.Stats, (stats) => (app: App<never>) =>
  Effect.flatMap(HttpLayerRouter.RouteContext, ({ route }) =>
    Effect.zipRight(stats.request(`${route.method} ${route.path.replace(/:(\w+)/g, "{$1}")}`), app))))

/**
 * Answers a route error as Letta does (`RouteError.toResponse`), and a defect as Letta's 500.
 *
 * @category middleware
 */
export const answerErrors = HttpLayerRouter.middleware<{ handles: RouteError.RouteError }>()((app) =>
  app.pipe(
    Effect.catchIf(RouteError.isRouteError, (error) => Effect.succeed(RouteError.toResponse(error))),
    Effect.catchAllDefect((defect) =>
      Effect.as(Effect.logError("emulator route failed", defect), Wire.detail(500, "An unknown error occurred"))
    )
  )
)

/** Tears the connection down without an answer: the client sees a reset. */
const resetConnection = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
  Effect.zipRight(
    Effect.sync(() => NodeHttpServerRequest.toServerResponse(request).socket?.destroy()),
    Effect.never
  ))

/**
 * Takes the next armed fault, whatever the route: a `reset` tears the connection down at once; any other is the
 * request's {@link ArmedFault}.
 *
 * @category middleware
 */
export const takeArmedFault = HttpLayerRouter.middleware(
  Effect.map(ArmedFaults.ArmedFaults, (armed) => (app: App<never>): App<never, HttpServerRequest.HttpServerRequest> =>
    Effect.flatMap(armed.take, (next) =>
      Option.isSome(next) && next.value.kind === "reset"
        ? resetConnection
        : Effect.provideService(app, ArmedFault, next)))
)

/** `401` unless the request carries the password (bearer, or Letta's `X-BARE-PASSWORD: password <pw>`), if one is set. */
const authorize = (settings: EmulatorConfig.Settings) => {
  const password = Option.map(settings.password, Redacted.value)
  return <E, R>(app: App<E, R>): App<E | RouteError.Unauthorized, R | HttpServerRequest.HttpServerRequest> =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, ({ headers }): App<E | RouteError.Unauthorized, R> =>
      Option.match(password, {
        onNone: () => app,
        onSome: (pw) =>
          headers.authorization === `Bearer ${pw}` || headers["x-bare-password"] === `password ${pw}`
            ? app
            : Effect.fail(new RouteError.Unauthorized())
      }))
}

/** The request's fault (armed, else its header, else `EMULATOR_FAULT`): `slow-first-byte` waits, `status` fails. */
const injectFaultWith = (settings: EmulatorConfig.Settings) =>
<E, R>(app: App<E, R>): App<E | RouteError.EmulatedFailure, R | HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const armed = yield* ArmedFault
    const fault = Option.orElse(armed, () => Fault.choose(request.headers["x-emulator-fault"], "", settings.fault))
    if (Option.isSome(fault) && fault.value.kind === "slow-first-byte") yield* Effect.sleep(settings.firstByteDelay)
    if (Option.isSome(fault) && fault.value.kind === "status") {
      return yield* new RouteError.EmulatedFailure({ status: fault.value.status })
    }
    return yield* app
  })

/**
 * `--secure`: the password is required (`EMULATOR_PASSWORD`).
 *
 * @category middleware
 */
export const requireAuth = HttpLayerRouter.middleware(
  Effect.map(EmulatorConfig.EmulatorConfig, (settings) => (app: App<never>) => authorize(settings)(app))
)

/**
 * The request's fault, from {@link ArmedFault}, the `X-Emulator-Fault` header or `EMULATOR_FAULT`: `status:<code>` is
 * answered at once, `slow-first-byte` waits first. The other faults shape a turn's stream (`TurnRunner`).
 *
 * @category middleware
 */
export const injectFault = HttpLayerRouter.middleware(
  Effect.map(EmulatorConfig.EmulatorConfig, (settings) => (app: App<never>) => injectFaultWith(settings)(app))
)

/**
 * For open routes (health): no password and no fault, unless a fault was armed for the request, which then meets the
 * password check and the fault as on any route.
 *
 * @category middleware
 */
export const guardWhenArmed = HttpLayerRouter.middleware(
  Effect.map(EmulatorConfig.EmulatorConfig, (settings) => {
    const guarded = <E, R>(app: App<E, R>) => authorize(settings)(injectFaultWith(settings)(app))
    return (app: App<never>) => Effect.flatMap(ArmedFault, (armed) => Option.isSome(armed) ? guarded(app) : app)
  })
)
