/**
 * Conversations: `POST /v1/conversations/?agent_id=`, `GET` and `DELETE /v1/conversations/{conversation_id}`, and
 * their turns, `POST /v1/conversations/{conversation_id}/messages` (`default`: the agent's own thread).
 *
 * @since 0.1.0
 */
import { HttpLayerRouter } from "@effect/platform"
import { LettaSchema } from "@letta-pipeline/core"
import { Effect } from "effect"
import * as Http from "../internal/http.js"
import * as Requests from "../Requests.js"
import * as RouteError from "../RouteError.js"
import * as Store from "../Store.js"
import * as TurnRunner from "../TurnRunner.js"
import * as Wire from "../Wire.js"

const conversationId = Http.pathId(LettaSchema.ConversationId, "conversation_id", "conv")

const make = Effect.gen(function*() {
  const store = yield* Store.Store
  const turns = yield* TurnRunner.TurnRunner

  const create = Effect.gen(function*() {
    const agentId = (yield* Http.query).get("agent_id")
    if (agentId === null) return yield* RouteError.ValidationFailed.missingQuery("agent_id")
    yield* Http.checkId(LettaSchema.AgentId, "agent_id", "agent")(agentId)
    yield* Http.found("Agent", agentId, store.agent(agentId))
    const request = yield* Http.body(Requests.CreateConversation, { emptyIsObject: true })
    return Wire.jsonResponse(yield* store.createConversation(agentId, request.summary ?? undefined))
  })

  const get = Effect.gen(function*() {
    const id = yield* conversationId
    return Wire.jsonResponse(yield* Http.found("Conversation", id, store.conversation(id)))
  })

  /** Letta answers `null` (the spec's `{}` schema), 404 when there is none. */
  const remove = Effect.gen(function*() {
    const id = yield* conversationId
    const existed = yield* store.deleteConversation(id)
    return existed ? Wire.jsonResponse(null) : yield* new RouteError.NotFound({ resource: "Conversation", id })
  })

  /** The agent a conversation's turn goes to: the conversation's, or the body's `agent_id` for `default`. */
  const agentOf = (id: string, request: Requests.ConversationMessageRequest) =>
    Effect.gen(function*() {
      if (id !== "default") return (yield* Http.found("Conversation", id, store.conversation(id))).agent_id
      if (request.agent_id !== undefined) return request.agent_id
      return yield* new RouteError.Refused({ status: 400, detail: "agent_id is required for the default conversation" })
    })

  const send = Effect.gen(function*() {
    const id = yield* conversationId
    const request = yield* Http.body(Requests.ConversationMessageRequest)
    const agentId = yield* agentOf(id, request)
    const agent = yield* Http.found("Agent", agentId, store.agent(agentId))
    // a conversation runs one turn at a time: Letta refuses a message while a run holds it, one that was just
    // stopped included, until that run has ended
    const holder = (yield* store.activeRuns(agent.id)).find((r) =>
      r.run.conversation_id === (id === "default" ? null : id)
    )
    if (holder !== undefined) return yield* new RouteError.ConversationBusy({ conversationId: id, runId: holder.run.id })
    return yield* turns.start({
      agent,
      thread: id === "default" ? Store.agentThread(agent.id) : Store.conversationThread(id),
      conversationId: id === "default" ? null : id,
      request,
      stream: request.streaming !== false
    })
  })

  return [
    HttpLayerRouter.route("POST", "/conversations/", create),
    HttpLayerRouter.route("GET", "/conversations/:conversation_id", get),
    HttpLayerRouter.route("DELETE", "/conversations/:conversation_id", remove),
    HttpLayerRouter.route("POST", "/conversations/:conversation_id/messages", send)
  ]
})

/** @category layers */
export const layer = HttpLayerRouter.addAll(make)

/** `/conversations` redirects to `/conversations/`. @category layers */
export const redirects = Http.redirectSlash("POST", "/conversations")

