/**
 * An agent's messages: its history (`GET /v1/agents/{agent_id}/messages`), turns (`POST …/messages`, `…/stream`,
 * `…/async`) and their cancellation (`POST …/messages/cancel`).
 *
 * @since 0.1.0
 */
import { HttpLayerRouter, HttpServerRequest } from "@effect/platform"
import { LettaSchema } from "@letta-pipeline/core"
import { Chunk, Deferred, Effect } from "effect"
import * as Http from "../internal/http.js"
import * as Requests from "../Requests.js"
import * as RouteError from "../RouteError.js"
import * as Store from "../Store.js"
import * as TurnRunner from "../TurnRunner.js"
import * as Wire from "../Wire.js"
import * as Agents from "./Agents.js"

/** Letta's SDK-version rule for `streaming: true` on `POST /v1/agents/{id}/messages`. */
const isSdkV1 = (headers: Readonly<Record<string, string | undefined>>): boolean => {
  if (headers["x-stainless-package-version"] !== undefined) return true
  const agent = headers["user-agent"]
  if (agent === undefined) return true
  const match = /^(?:@letta-ai\/)?letta-client\/(\d+)(?:\.|$)/.exec(agent.trim())
  return match !== null && match[1] === "1"
}

const refused = (status: 400 | 409 | 422, detail: string) => Effect.fail(new RouteError.Refused({ status, detail }))

/** Letta's 422 for streaming options sent without `streaming: true`, if any are. */
const streamingOptionsWithoutStreaming = (request: Requests.LettaStreamingRequest) => {
  const reasons = [
    request.stream_tokens === true ? "stream_tokens can only be true when streaming=true" : undefined,
    request.include_pings === false ? "include_pings can only be set to false when streaming=true" : undefined,
    request.background === true ? "background can only be true when streaming=true" : undefined
  ].filter((reason) => reason !== undefined)
  return reasons.length === 0 ? Effect.void : refused(
    422,
    `Streaming options set without streaming enabled. ${reasons.join("; ")}. ` +
      "Either set streaming=true or use default values for streaming options."
  )
}

/** What the handlers use. */
interface Deps {
  readonly store: Store.Service
  readonly turns: TurnRunner.Service
}

/** `GET …/messages`: the agent's thread, or a conversation's (`conversation_id`), newest first unless `order=asc`. */
const history = ({ store }: Deps) =>
  Effect.gen(function*() {
    const { id } = yield* Agents.fromPath(store)
    const params = yield* Http.query
    const conversation = params.get("conversation_id")
    if (conversation !== null) yield* Http.checkId(LettaSchema.ConversationId, "conversation_id", "conv")(conversation)
    const thread = conversation === null || conversation === "default"
      ? Store.agentThread(id)
      : Store.conversationThread(conversation)
    const all = Chunk.toReadonlyArray(yield* store.thread(thread))
    const ordered = params.get("order") === "asc" ? all : [...all].reverse()
    return Wire.jsonResponse(Http.page(ordered, params, 100).map((m) => Wire.encodeMessage(m)))
  })

/** `POST …/messages`: JSON, or SSE with `streaming: true` for SDK 1.0+ clients. */
const send = ({ store, turns }: Deps) =>
  Effect.gen(function*() {
    const agent = yield* Agents.fromPath(store)
    const request = yield* Http.body(Requests.LettaStreamingRequest)
    if ((request.messages === undefined) === (request.input === undefined)) {
      return yield* refused(422, "Exactly one of 'messages' or 'input' must be provided")
    }
    if (request.messages !== undefined && request.messages.length === 0) {
      return yield* refused(422, "Messages must not be empty")
    }
    if (request.streaming !== true) yield* streamingOptionsWithoutStreaming(request)
    else if (!isSdkV1((yield* HttpServerRequest.HttpServerRequest).headers)) {
      return yield* refused(422, "streaming=true is only supported for SDK v1.0+ clients.")
    }
    const thread = Store.agentThread(agent.id)
    return yield* turns.start({ agent, thread, conversationId: null, request, stream: request.streaming === true })
  })

/** `POST …/messages/stream`: always SSE. */
const stream = ({ store, turns }: Deps) =>
  Effect.gen(function*() {
    const agent = yield* Agents.fromPath(store)
    const request = yield* Http.body(Requests.LettaStreamingRequest)
    if (request.messages !== undefined && request.messages.length === 0) {
      return yield* refused(422, "Messages must not be empty")
    }
    const thread = Store.agentThread(agent.id)
    return yield* turns.start({ agent, thread, conversationId: null, request, stream: true })
  })

/** `POST …/messages/async`: the run at once; the turn goes on in the background. */
const sendAsync = ({ store, turns }: Deps) =>
  Effect.gen(function*() {
    const agent = yield* Agents.fromPath(store)
    const request = yield* Http.body(Requests.LettaAsyncRequest)
    const last = (request.messages ?? []).findLast((m) => m.role === "user")
    if (last === undefined) return yield* refused(422, "Messages must not be empty")
    return Wire.jsonResponse(yield* turns.startAsync(agent, last.content))
  })

/** `POST …/messages/cancel`: the agent's active runs (or those of `run_ids`) cancelled; 409 when there are none. */
const cancel = ({ store }: Deps) =>
  Effect.gen(function*() {
    const { id } = yield* Agents.fromPath(store)
    const wanted = (yield* Http.body(Requests.CancelAgentRunRequest, { emptyIsObject: true })).run_ids
    const active = (yield* store.activeRuns(id)).filter((r) =>
      wanted === undefined || wanted === null || wanted.includes(r.run.id)
    )
    if (active.length === 0) return yield* refused(409, `No active runs found for agent ${id}`)
    yield* Effect.forEach(active, (r) => Deferred.succeed(r.cancel, undefined))
    return Wire.jsonResponse(Object.fromEntries(active.map((r) => [r.run.id, "cancelled"])))
  })

const make = Effect.gen(function*() {
  const deps: Deps = { store: yield* Store.Store, turns: yield* TurnRunner.TurnRunner }
  return [
    HttpLayerRouter.route("GET", "/agents/:agent_id/messages", history(deps)),
    HttpLayerRouter.route("POST", "/agents/:agent_id/messages", send(deps)),
    HttpLayerRouter.route("POST", "/agents/:agent_id/messages/stream", stream(deps)),
    HttpLayerRouter.route("POST", "/agents/:agent_id/messages/async", sendAsync(deps)),
    HttpLayerRouter.route("POST", "/agents/:agent_id/messages/cancel", cancel(deps))
  ]
})

/** @category layers */
export const layer = HttpLayerRouter.addAll(make)
