/**
 * Identities: `PUT` (upsert by `identifier_key`), `POST` and `GET /v1/identities/`, `GET` and `DELETE
 * /v1/identities/{identity_id}`, and `GET /v1/identities/{identity_id}/agents`. Which agents an identity has is set
 * here (`agent_ids`) or by creating an agent with `identity_ids`.
 *
 * @since 0.1.0
 */
import { HttpLayerRouter } from "@effect/platform"
import { Effect, Layer } from "effect"
import * as Http from "../internal/http.js"
import * as Requests from "../Requests.js"
import * as RouteError from "../RouteError.js"
import * as Store from "../Store.js"
import * as Wire from "../Wire.js"

const make = Effect.gen(function*() {
  const store = yield* Store.Store
  const identity = Effect.flatMap(
    Http.pathId(Requests.IdentityId, "identity_id", "identity"),
    (id) => Http.found("Identity", id, store.identity(id))
  )

  /** Newest first unless `order=asc`, as every Letta list. */
  const ordered = <A>(items: ReadonlyArray<A>, params: URLSearchParams) =>
    params.get("order") === "asc" ? items : [...items].reverse()

  const list = Effect.gen(function*() {
    const params = yield* Http.query
    const key = params.get("identifier_key")
    const name = params.get("name")
    const type = params.get("identity_type")
    const filtered = ordered(yield* store.identities, params).filter((i) =>
      (key === null || i.identifier_key === key) && (name === null || i.name === name) &&
      (type === null || i.identity_type === type)
    )
    return Wire.jsonResponse(Http.page(filtered, params, 50))
  })

  const agents = Effect.gen(function*() {
    const found = yield* identity
    const params = yield* Http.query
    const all = (yield* store.agents).filter((agent) => found.agent_ids.includes(agent.id))
    return Wire.jsonResponse(Http.page(ordered(all, params), params, 50))
  })

  const remove = Effect.gen(function*() {
    const found = yield* identity
    const existed = yield* store.deleteIdentity(found.id)
    return existed ? Wire.jsonResponse(null) : yield* new RouteError.NotFound({ resource: "Identity", id: found.id })
  })

  return [
    HttpLayerRouter.route("GET", "/identities/", list),
    HttpLayerRouter.route(
      "POST",
      "/identities/",
      Http.body(Requests.IdentityUpsert).pipe(Effect.flatMap(store.createIdentity), Effect.map(Wire.jsonResponse))
    ),
    HttpLayerRouter.route(
      "PUT",
      "/identities/",
      Http.body(Requests.IdentityUpsert).pipe(Effect.flatMap(store.upsertIdentity), Effect.map(Wire.jsonResponse))
    ),
    HttpLayerRouter.route("GET", "/identities/:identity_id", Effect.map(identity, Wire.jsonResponse)),
    HttpLayerRouter.route("GET", "/identities/:identity_id/agents", agents),
    HttpLayerRouter.route("DELETE", "/identities/:identity_id", remove)
  ]
})

/** @category layers */
export const layer = HttpLayerRouter.addAll(make)

/** `/identities` redirects to `/identities/`. @category layers */
export const redirects = Layer.mergeAll(
  Http.redirectSlash("GET", "/identities"),
  Http.redirectSlash("POST", "/identities"),
  Http.redirectSlash("PUT", "/identities")
)
