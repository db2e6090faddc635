/**
 * Agents: `GET` and `POST /v1/agents/`, `GET` and `DELETE /v1/agents/{agent_id}`. A created agent takes what
 * `CreateAgentRequest` carries (system, memory blocks, tools, tool rules, model configs, identities, …); the list
 * filters by name, text, tags and identity (`identity_id`, `identifier_keys`).
 *
 * @since 0.1.0
 */
import { HttpLayerRouter } from "@effect/platform"
import { LettaSchema } from "@letta-pipeline/core"
import { Effect, Layer } from "effect"
import * as Http from "../internal/http.js"
import * as Requests from "../Requests.js"
import * as Store from "../Store.js"
import * as Wire from "../Wire.js"

/** The agent named by the path's `agent_id`: a 422 if malformed, a 404 if there is none. @category constructors */
export const fromPath = (store: Store.Service) =>
  Effect.flatMap(
    Http.pathId(LettaSchema.AgentId, "agent_id", "agent"),
    (id) => Http.found("Agent", id, store.agent(id))
  )

const make = Effect.gen(function*() {
  const store = yield* Store.Store
  const agent = fromPath(store)

  const list = Effect.gen(function*() {
    const params = yield* Http.query
    const name = params.get("name")
    const text = params.get("query_text")?.toLowerCase()
    const tags = params.getAll("tags")
    const matchAll = params.get("match_all_tags") === "true"
    const identityId = params.get("identity_id")
    const keys = params.getAll("identifier_keys")
    const keyed = keys.length === 0
      ? []
      : (yield* store.identities).filter((i) => keys.includes(i.identifier_key)).map((i) => i.id)
    const all = yield* store.agents
    const ordered = params.get("order") === "asc" ? all : [...all].reverse()
    const filtered = ordered.filter((agent) =>
      (name === null || agent.name === name) &&
      (text === undefined || agent.name.toLowerCase().includes(text)) &&
      (tags.length === 0 || (matchAll ? tags.every((t) => agent.tags.includes(t)) : tags.some((t) => agent.tags.includes(t)))) &&
      (identityId === null || agent.identity_ids.includes(identityId)) &&
      (keys.length === 0 || agent.identity_ids.some((id) => keyed.includes(id)))
    )
    return Wire.jsonResponse(Http.page(filtered, params, 50))
  })

  return [
    HttpLayerRouter.route("GET", "/agents/", list),
    HttpLayerRouter.route(
      "POST",
      "/agents/",
      Http.body(Requests.CreateAgent, { emptyIsObject: true }).pipe(
        Effect.flatMap(store.createAgent),
        Effect.map(Wire.jsonResponse)
      )
    ),
    HttpLayerRouter.route("GET", "/agents/:agent_id", Effect.map(agent, Wire.jsonResponse)),
    HttpLayerRouter.route(
      "DELETE",
      "/agents/:agent_id",
      Effect.flatMap(agent, (found) => Effect.as(store.deleteAgent(found.id), Wire.jsonResponse(null)))
    )
  ]
})

/** @category layers */
export const layer = HttpLayerRouter.addAll(make)

/** `/agents` redirects to `/agents/`. @category layers */
export const redirects = Layer.merge(Http.redirectSlash("GET", "/agents"), Http.redirectSlash("POST", "/agents"))
