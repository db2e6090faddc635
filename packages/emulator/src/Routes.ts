/**
 * The Letta REST routes the emulator serves, with the real server's paths, bodies, statuses, trailing-slash redirects,
 * validation errors and optional `--secure` auth: one layer per resource (`routes/*`), Letta's under `/v1` by the
 * router's prefixing, each group with the middleware it needs (`Middleware`).
 *
 * @since 0.1.0
 */
import { HttpLayerRouter } from "@effect/platform"
import { Effect, Layer } from "effect"
import * as Middleware from "./Middleware.js"
import * as Agents from "./routes/Agents.js"
import * as Control from "./routes/Control.js"
import * as Conversations from "./routes/Conversations.js"
import * as Health from "./routes/Health.js"
import * as Identities from "./routes/Identities.js"
import * as Messages from "./routes/Messages.js"
import * as Runs from "./routes/Runs.js"
import * as Stats from "./Stats.js"
import * as TurnRunner from "./TurnRunner.js"
import * as Wire from "./Wire.js"

// in `a.combine(b)`, `b` sees the request first: every route is counted, then its errors are answered as Letta's

/** Every route: counted, its errors answered as Letta's. */
const counted = Middleware.answerErrors.combine(Middleware.countRequests)

/** Letta's routes: an armed fault first (whatever the route), then the password, then the request's fault. */
const guarded = Middleware.injectFault.combine(
  Middleware.requireAuth.combine(Middleware.takeArmedFault.combine(counted))
)

/** Health: open unless a fault is armed for the request. */
const open = Middleware.guardWhenArmed.combine(Middleware.takeArmedFault.combine(counted))

/** The emulator's own faults route: the password and the request's fault, but never an armed one. */
const control = Middleware.injectFault.combine(Middleware.requireAuth.combine(counted))

/** The router, with every route added to it under `prefix` (FastAPI's `include_router(…, prefix=…)`). */
const prefixed = (prefix: string) =>
  Layer.effect(HttpLayerRouter.HttpRouter, Effect.map(HttpLayerRouter.HttpRouter, (router) => router.prefixed(prefix)))

/** Letta's API, as its `/v1` router has it. */
const v1 = Layer.mergeAll(
  Health.layer.pipe(Layer.provide(open.layer)),
  Layer.mergeAll(Agents.layer, Messages.layer, Conversations.layer, Runs.layer, Identities.layer).pipe(Layer.provide(guarded.layer)),
  // FastAPI's redirects are answered before any route runs: neither counted nor guarded
  Layer.mergeAll(Health.redirects, Agents.redirects, Conversations.redirects)
).pipe(Layer.provide(prefixed("/v1")))

/** Anything else: FastAPI's 404, counted too, so that a test can prove that nothing at all reached Letta. */
const unmatched = HttpLayerRouter.addAll(Effect.map(Stats.Stats, (stats) => [
  HttpLayerRouter.route("*", "*", Effect.as(stats.request("* unmatched"), Wire.detail(404, "Not Found")))
]))

/**
 * Every route, over the store, the stats, the armed faults and the settings.
 *
 * @category layers
 */
export const layer = Layer.mergeAll(
  v1,
  Control.stats.pipe(Layer.provide(counted.layer)),
  Control.faults.pipe(Layer.provide(control.layer)),
  unmatched
).pipe(Layer.provide(TurnRunner.layer))
