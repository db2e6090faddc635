/**
 * The Letta REST routes the emulator serves, with the real server's paths, bodies, statuses, trailing-slash redirects,
 * validation errors and optional `--secure` auth.
 *
 * @since 0.1.0
 */
import { HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { LettaSchema } from "@letta-pipeline/core"
import {
  Chunk,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  FiberSet,
  Layer,
  Option,
  ParseResult,
  Redacted,
  Schema,
  Stream
} from "effect"
import * as ArmedFaults from "./ArmedFaults.js"
import * as EmulatorConfig from "./EmulatorConfig.js"
import * as Fault from "./Fault.js"
import * as Stats from "./Stats.js"
import * as Store from "./Store.js"
import * as Turn from "./Turn.js"
import * as Wire from "./Wire.js"

type Handler = Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  HttpServerRequest.HttpServerRequest | HttpLayerRouter.RouteContext
>

type Method = "GET" | "POST" | "DELETE"

const healthPaths = new Set(["/v1/health/", "/v1/health", "/_emulator/stats"])

// ---------------------------------------------------------------------------------------------------------------------
// request bodies
// ---------------------------------------------------------------------------------------------------------------------

const TurnBody = Schema.Struct({
  messages: Schema.optional(Schema.Array(LettaSchema.MessageCreate)),
  input: Schema.optional(Schema.Union(Schema.String, Schema.Array(LettaSchema.UserContentPart))),
  streaming: Schema.optional(Schema.Boolean),
  stream_tokens: Schema.optional(Schema.Boolean),
  include_pings: Schema.optional(Schema.Boolean),
  background: Schema.optional(Schema.Boolean),
  max_steps: Schema.optional(Schema.Number),
  agent_id: Schema.optional(Schema.String)
})
type TurnBody = typeof TurnBody.Type

const CreateAgentBody = Schema.Struct({
  name: Schema.optional(Schema.String),
  system: Schema.optional(Schema.String),
  description: Schema.optional(Schema.String),
  tags: Schema.optional(Schema.Array(Schema.String))
})

const CancelBody = Schema.Struct({ run_ids: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))) })

const ResumeBody = Schema.Struct({
  starting_after: Schema.optional(Schema.Number),
  include_pings: Schema.optional(Schema.Boolean),
  poll_interval: Schema.optional(Schema.Number),
  batch_size: Schema.optional(Schema.Number)
})

const decodeJsonText = Schema.decodeEither(Schema.parseJson())

const ArmBody = Schema.Struct({
  fault: Schema.String,
  count: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100_000)), { default: () => 1 })
})

/** The body decoded by `schema`, or Letta's 422 naming every problem. */
const body = <A, I>(schema: Schema.Schema<A, I>, emptyIsObject = false) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const text = yield* Effect.orElseSucceed(request.text, () => "")
    const json = text.trim() === "" && emptyIsObject ? Either.right({}) : decodeJsonText(text)
    if (Either.isLeft(json)) {
      return Either.left(Wire.validationError([{ type: "json_invalid", loc: ["body", 0], msg: "JSON decode error", input: {} }]))
    }
    return Either.mapLeft(
      Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })(json.right),
      (error) =>
        Wire.validationError(ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({
          type: issue._tag === "Missing" ? "missing" : "value_error",
          loc: ["body", ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p))],
          msg: issue._tag === "Missing" ? "Field required" : issue.message,
          input: json.right
        })))
    )
  })

// ---------------------------------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------------------------------

const param = (name: string) => Effect.map(HttpLayerRouter.params, (params) => params[name] ?? "")

const query = Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
  new URL(request.url, "http://emulator").searchParams)

const notFound = (what: string, id: string) => Wire.detail(404, `${what} with ID ${id} not found`)

/** Letta's SDK-version rule for `streaming: true` on `POST /v1/agents/{id}/messages`. */
const isSdkV1 = (headers: Readonly<Record<string, string | undefined>>): boolean => {
  if (headers["x-stainless-package-version"] !== undefined) return true
  const agent = headers["user-agent"]
  if (agent === undefined) return true
  const match = /^(?:@letta-ai\/)?letta-client\/(\d+)(?:\.|$)/.exec(agent.trim())
  return match !== null && match[1] === "1"
}

const idOf = (item: object): string | undefined => ("id" in item && typeof item.id === "string" ? item.id : undefined)

/** A page of `items` in listing order, by id cursors. */
const page = <A extends object>(items: ReadonlyArray<A>, params: URLSearchParams, defaultLimit: number) => {
  const after = params.get("after")
  const before = params.get("before")
  let start = 0
  let end = items.length
  if (after !== null) start = items.findIndex((item) => idOf(item) === after) + 1
  if (before !== null) {
    const index = items.findIndex((item) => idOf(item) === before)
    if (index !== -1) end = index
  }
  const limit = Number(params.get("limit") ?? defaultLimit)
  const slice = start === 0 && after !== null ? [] : items.slice(start, end)
  return before !== null && after === null ? slice.slice(-limit) : slice.slice(0, limit)
}

type Path = `/${string}`

const redirectSlash = (method: Method, from: Path, to: string) =>
  HttpLayerRouter.add(method, from, Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    const url = new URL(request.url, `http://${request.headers.host ?? "127.0.0.1"}`)
    return HttpServerResponse.empty({ status: 307, headers: { location: `${url.origin}${to}${url.search}` } })
  }))

// ---------------------------------------------------------------------------------------------------------------------
// routes
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Every route, over the store, the stats and the settings.
 *
 * @category layers
 */
export const layer = Layer.unwrapScoped(Effect.gen(function*() {
  const store = yield* Store.Store
  const stats = yield* Stats.Stats
  const armed = yield* ArmedFaults.ArmedFaults
  const settings = yield* EmulatorConfig.EmulatorConfig
  const background = yield* FiberSet.make()
  const provide = <A, E>(stream: Stream.Stream<A, E, Store.Store | EmulatorConfig.EmulatorConfig>) =>
    stream.pipe(Stream.provideService(Store.Store, store), Stream.provideService(EmulatorConfig.EmulatorConfig, settings))

  const password = Option.map(settings.password, Redacted.value)
  const authorized = (headers: Readonly<Record<string, string | undefined>>) =>
    Option.match(password, {
      onNone: () => true,
      onSome: (pw) => headers.authorization === `Bearer ${pw}` || headers["x-bare-password"] === `password ${pw}`
    })

  /** Tears the connection down without an answer: the client sees a reset. */
  const resetConnection: Handler = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    NodeHttpServerRequest.toServerResponse(request).socket?.destroy()
    return Effect.never
  })

  /**
   * Registers a route: counts it, checks auth, applies an armed fault (`status`, `reset`, `slow-first-byte`), else the
   * header's or the global `status` and `slow-first-byte` faults.
   */
  const route = (method: Method, path: Path, handler: Handler) =>
    HttpLayerRouter.add(
      method,
      path,
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const template = path.replace(/:(\w+)/g, "{$1}")
        yield* stats.request(`${method} ${template}`)
        const next = path.startsWith("/_emulator/") ? Option.none() : yield* armed.take
        if (Option.isSome(next) && next.value.kind === "reset") return yield* resetConnection
        if (healthPaths.has(path) && Option.isNone(next)) return yield* handler
        if (!authorized(request.headers)) return Wire.detail(401, "Unauthorized")
        const fault = Option.orElse(next, () => Fault.choose(request.headers["x-emulator-fault"], "", settings.fault))
        if (Option.isSome(fault) && fault.value.kind === "slow-first-byte") yield* Effect.sleep(settings.firstByteDelay)
        if (Option.isSome(fault) && fault.value.kind === "status") {
          return Wire.detail(fault.value.status, `Emulated failure (fault status:${fault.value.status})`)
        }
        return yield* handler
      }).pipe(
        Effect.catchAllDefect((defect) =>
          Effect.as(Effect.logError("emulator route failed", defect), Wire.detail(500, "An unknown error occurred"))
        )
      )
    )

  const checkedId = <A>(
    schema: Schema.Schema<A, string>,
    name: string,
    prefix: "agent" | "conv" | "run",
    then: (id: string) => Handler
  ): Handler =>
    Effect.flatMap(param(name), (id) => Schema.is(schema)(id) ? then(id) : Effect.succeed(Wire.invalidPathId(name, prefix, id)))

  const withAgent = (then: (agent: Store.Agent) => Handler): Handler =>
    checkedId(LettaSchema.AgentId, "agent_id", "agent", (id) =>
      Effect.flatMap(store.agent(id), Option.match({ onNone: () => Effect.succeed(notFound("Agent", id)), onSome: then })))

  // -- streaming ------------------------------------------------------------------------------------------------------

  /** Serves a turn's items as SSE; a `Reset` item tears the socket down. Counted in the stats. */
  const sseResponse = (items: Stream.Stream<Turn.Item>, message: string) =>
    Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      let faulted = false
      const bytes = Stream.acquireRelease(stats.streamOpened(message), (close, exit) =>
        close(
          faulted ? "fault" : Exit.isSuccess(exit) ? "completed" : Exit.isInterrupted(exit) ? "client_closed" : "fault"
        )).pipe(
          Stream.flatMap(() => items),
          Stream.mapEffect((item) => {
            if (item._tag !== "Reset") return Effect.succeed(Turn.encode(item))
            faulted = true
            // reset only once what was written before has left, so the client sees the first events
            const response = NodeHttpServerRequest.toServerResponse(request)
            return Effect.zipRight(
              Effect.async<void>((resume) => {
                response.write("", () => {
                  response.socket?.destroy()
                  resume(Effect.void)
                })
              }),
              Effect.never
            )
          }),
          Stream.encodeText
        )
      return HttpServerResponse.stream(bytes, {
        contentType: "text/event-stream; charset=utf-8",
        headers: { "cache-control": "no-cache" }
      })
    })

  /** Follows a background run's buffer from `startingAfter`, polling until the run is over. */
  const follow = (runId: string, startingAfter: number, pollInterval: Duration.Duration) =>
    Stream.paginateChunkEffect(startingAfter, (cursor) =>
      Effect.gen(function*() {
        const record = yield* store.run(runId)
        if (Option.isNone(record)) return [Chunk.empty<Turn.Item>(), Option.none<number>()] as const
        const fresh = Chunk.drop(record.value.frames, cursor)
        const over = record.value.run.status !== "created" && record.value.run.status !== "running"
        if (Chunk.isEmpty(fresh) && !over) yield* Effect.sleep(pollInterval)
        const next = cursor + Chunk.size(fresh)
        const items = Chunk.map(fresh, (text): Turn.Item => ({ _tag: "Frame", text }))
        return [items, over && Chunk.isEmpty(fresh) ? Option.none<number>() : Option.some(next)] as const
      }))

  /** Starts a turn: streamed (foreground or background), or answered as one JSON `LettaResponse`. */
  const startTurn = (
    agent: Store.Agent,
    thread: string,
    conversationId: string | null,
    request: TurnBody,
    mode: { readonly stream: boolean }
  ): Handler =>
    Effect.gen(function*() {
      const incoming = request.messages ?? (request.input === undefined ? [] : [{ role: "user" as const, content: request.input }])
      const last = incoming.findLast((m) => m.role === "user") ?? incoming.at(-1)
      if (last === undefined) return Wire.detail(422, "Messages must not be empty")
      const http = yield* HttpServerRequest.HttpServerRequest
      const fault = Fault.choose(http.headers["x-emulator-fault"], Turn.textOf(last.content), settings.fault)
      if (Option.isSome(fault) && fault.value.kind === "status") {
        return Wire.detail(fault.value.status, `Emulated failure (fault status:${fault.value.status})`)
      }
      if (Option.isSome(fault) && fault.value.kind === "slow-first-byte") yield* Effect.sleep(settings.firstByteDelay)
      const isBackground = request.background === true
      const record = yield* store.createRun(agent.id, conversationId, isBackground)
      const input: Turn.Input = {
        agent,
        thread,
        content: last.content,
        tokens: mode.stream && request.stream_tokens === true,
        includePings: mode.stream && request.include_pings !== false,
        fault: mode.stream ? fault : Option.filter(fault, (f) => f.kind === "llm-error")
      }
      const items = Turn.run(input, record).pipe(provide)
      if (!mode.stream) {
        const all = Chunk.toReadonlyArray(yield* Stream.runCollect(items))
        const failed = all.some((item) => item._tag === "Frame" && item.text.startsWith("event: error"))
        if (failed) {
          return Wire.jsonResponse({
            error: { type: "llm_error", message: "An error occurred with the LLM request.", detail: "Emulated LLM failure" }
          }, 500)
        }
        const done = yield* store.run(record.run.id)
        const messages = Option.match(done, {
          onNone: () => [],
          onSome: (r) => Chunk.toReadonlyArray(r.messages).filter((m) => m.message_type !== "user_message")
        })
        const usage = all.flatMap((item) =>
          item._tag === "Message" && item.message.message_type === "usage_statistics" ? [item.message] : []
        )
        return Wire.jsonResponse({
          messages: messages.map((m) => Wire.encodeMessage(m)),
          stop_reason: { message_type: "stop_reason", stop_reason: "end_turn" },
          usage: usage[0] ?? null,
          logprobs: null,
          turns: null
        })
      }
      const said = Turn.textOf(last.content)
      if (!isBackground) return yield* sseResponse(items, said)
      yield* FiberSet.run(background, Stream.runForEach(items, (item) =>
        item._tag === "Reset" ? Effect.void : store.appendFrame(record.run.id, (seq) => Turn.encode(item, seq))))
      return yield* sseResponse(follow(record.run.id, 0, Duration.millis(100)), said)
    })

  // -- handlers -------------------------------------------------------------------------------------------------------

  const health = Effect.succeed(Wire.jsonResponse({ version: "0.16.8", status: "ok" }))

  const listAgents: Handler = Effect.gen(function*() {
    const params = yield* query
    const name = params.get("name")
    const text = params.get("query_text")?.toLowerCase()
    const tags = params.getAll("tags")
    const matchAll = params.get("match_all_tags") === "true"
    const all = yield* store.agents
    const ordered = params.get("order") === "asc" ? all : [...all].reverse()
    const filtered = ordered.filter((agent) =>
      (name === null || agent.name === name) &&
      (text === undefined || agent.name.toLowerCase().includes(text)) &&
      (tags.length === 0 || (matchAll ? tags.every((t) => agent.tags.includes(t)) : tags.some((t) => agent.tags.includes(t))))
    )
    return Wire.jsonResponse(page(filtered, params, 50))
  })

  const createAgent: Handler = Effect.flatMap(body(CreateAgentBody, true), Either.match({
    onLeft: Effect.succeed,
    onRight: (input) => Effect.map(store.createAgent(input), (agent) => Wire.jsonResponse(agent))
  }))

  const getAgent = withAgent((agent) => Effect.succeed(Wire.jsonResponse(agent)))

  const deleteAgent = withAgent((agent) => Effect.as(store.deleteAgent(agent.id), Wire.jsonResponse(null)))

  const listMessages = withAgent((agent) =>
    Effect.gen(function*() {
      const params = yield* query
      const conversation = params.get("conversation_id")
      if (conversation !== null && !Schema.is(LettaSchema.ConversationId)(conversation)) {
        return Wire.invalidPathId("conversation_id", "conv", conversation)
      }
      const thread = conversation === null || conversation === "default"
        ? Store.agentThread(agent.id)
        : Store.conversationThread(conversation)
      const all = Chunk.toReadonlyArray(yield* store.thread(thread))
      const ordered = params.get("order") === "asc" ? all : [...all].reverse()
      return Wire.jsonResponse(page(ordered, params, 100).map((m) => Wire.encodeMessage(m)))
    })
  )

  /** `POST /v1/agents/{id}/messages`: JSON, or SSE with `streaming: true` for SDK 1.0+ clients. */
  const sendMessage = withAgent((agent) =>
    Effect.gen(function*() {
      const parsed = yield* body(TurnBody)
      if (Either.isLeft(parsed)) return parsed.left
      const request = parsed.right
      if ((request.messages === undefined) === (request.input === undefined)) {
        return Wire.detail(422, "Exactly one of 'messages' or 'input' must be provided")
      }
      if (request.messages !== undefined && request.messages.length === 0) {
        return Wire.detail(422, "Messages must not be empty")
      }
      if (request.streaming !== true) {
        const reasons = [
          request.stream_tokens === true ? "stream_tokens can only be true when streaming=true" : undefined,
          request.include_pings === false ? "include_pings can only be set to false when streaming=true" : undefined,
          request.background === true ? "background can only be true when streaming=true" : undefined
        ].filter((reason) => reason !== undefined)
        if (reasons.length > 0) {
          return Wire.detail(
            422,
            `Streaming options set without streaming enabled. ${reasons.join("; ")}. ` +
              "Either set streaming=true or use default values for streaming options."
          )
        }
        return yield* startTurn(agent, Store.agentThread(agent.id), null, request, { stream: false })
      }
      const http = yield* HttpServerRequest.HttpServerRequest
      if (!isSdkV1(http.headers)) return Wire.detail(422, "streaming=true is only supported for SDK v1.0+ clients.")
      return yield* startTurn(agent, Store.agentThread(agent.id), null, request, { stream: true })
    })
  )

  const streamMessage = withAgent((agent) =>
    Effect.gen(function*() {
      const parsed = yield* body(TurnBody)
      if (Either.isLeft(parsed)) return parsed.left
      if (parsed.right.messages !== undefined && parsed.right.messages.length === 0) {
        return Wire.detail(422, "Messages must not be empty")
      }
      return yield* startTurn(agent, Store.agentThread(agent.id), null, parsed.right, { stream: true })
    })
  )

  const sendAsync = withAgent((agent) =>
    Effect.gen(function*() {
      const parsed = yield* body(TurnBody)
      if (Either.isLeft(parsed)) return parsed.left
      const incoming = parsed.right.messages ?? []
      const last = incoming.findLast((m) => m.role === "user")
      if (last === undefined) return Wire.detail(422, "Messages must not be empty")
      const record = yield* store.createRun(agent.id, null, true)
      const input: Turn.Input = {
        agent,
        thread: Store.agentThread(agent.id),
        content: last.content,
        tokens: false,
        includePings: false,
        fault: Option.none()
      }
      yield* FiberSet.run(background, Stream.runForEach(provide(Turn.run(input, record)), (item) =>
        item._tag === "Reset" ? Effect.void : store.appendFrame(record.run.id, (seq) => Turn.encode(item, seq))))
      return Wire.jsonResponse(record.run)
    })
  )

  const cancel = withAgent((agent) =>
    Effect.gen(function*() {
      const parsed = yield* body(CancelBody, true)
      if (Either.isLeft(parsed)) return parsed.left
      const wanted = parsed.right.run_ids
      const active = (yield* store.activeRuns(agent.id)).filter((r) =>
        wanted === undefined || wanted === null || wanted.includes(r.run.id)
      )
      if (active.length === 0) return Wire.detail(409, `No active runs found for agent ${agent.id}`)
      yield* Effect.forEach(active, (r) => Deferred.succeed(r.cancel, undefined))
      return Wire.jsonResponse(Object.fromEntries(active.map((r) => [r.run.id, "cancelled"])))
    })
  )

  const createConversation: Handler = Effect.gen(function*() {
    const agentId = (yield* query).get("agent_id")
    if (agentId === null) {
      return Wire.validationError([{ type: "missing", loc: ["query", "agent_id"], msg: "Field required", input: null }])
    }
    if (!Schema.is(LettaSchema.AgentId)(agentId)) return Wire.invalidPathId("agent_id", "agent", agentId)
    const agent = yield* store.agent(agentId)
    if (Option.isNone(agent)) return notFound("Agent", agentId)
    const parsed = yield* body(Schema.Struct({ summary: Schema.optional(Schema.NullOr(Schema.String)) }), true)
    if (Either.isLeft(parsed)) return parsed.left
    return Wire.jsonResponse(yield* store.createConversation(agentId, parsed.right.summary ?? undefined))
  })

  const withConversation = (then: (conversationId: string) => Handler): Handler =>
    checkedId(LettaSchema.ConversationId, "conversation_id", "conv", then)

  const getConversation = withConversation((id) =>
    Effect.map(store.conversation(id), Option.match({
      onNone: () => notFound("Conversation", id),
      onSome: (conversation) => Wire.jsonResponse(conversation)
    }))
  )

  /** `DELETE /v1/conversations/{id}`: Letta answers `null` (the spec's `{}` schema), 404 when there is none. */
  const deleteConversation = withConversation((id) =>
    Effect.map(store.deleteConversation(id), (existed) => (existed ? Wire.jsonResponse(null) : notFound("Conversation", id)))
  )

  const conversationMessages = withConversation((id) =>
    Effect.gen(function*() {
      const parsed = yield* body(TurnBody)
      if (Either.isLeft(parsed)) return parsed.left
      const request = parsed.right
      const target = id === "default"
        ? request.agent_id === undefined
          ? Option.none<string>()
          : Option.some(request.agent_id)
        : Option.map(yield* store.conversation(id), (c) => c.agent_id)
      if (Option.isNone(target)) {
        return id === "default"
          ? Wire.detail(400, "agent_id is required for the default conversation")
          : notFound("Conversation", id)
      }
      const agent = yield* store.agent(target.value)
      if (Option.isNone(agent)) return notFound("Agent", target.value)
      // a conversation runs one turn at a time: Letta refuses a message while a run holds it, one that was just
      // stopped included, until that run has ended
      const holder = (yield* store.activeRuns(agent.value.id)).find((r) =>
        r.run.conversation_id === (id === "default" ? null : id)
      )
      if (holder !== undefined) {
        return Wire.jsonResponse({
          detail: `Cannot process a new message: conversation ${id} is busy with run ${holder.run.id}; try again once it has finished`,
          run_id: holder.run.id
        }, 409)
      }
      const thread = id === "default" ? Store.agentThread(agent.value.id) : Store.conversationThread(id)
      return yield* startTurn(agent.value, thread, id === "default" ? null : id, request, {
        stream: request.streaming !== false
      })
    })
  )

  const withRun = (then: (record: Store.RunRecord) => Handler): Handler =>
    checkedId(LettaSchema.RunId, "run_id", "run", (id) =>
      Effect.flatMap(store.run(id), Option.match({ onNone: () => Effect.succeed(notFound("Run", id)), onSome: then })))

  const getRun = withRun((record) => Effect.succeed(Wire.jsonResponse(record.run)))

  const runMessages = withRun((record) =>
    Effect.map(query, (params) => {
      const all = Chunk.toReadonlyArray(record.messages)
      const ordered = params.get("order") === "desc" ? [...all].reverse() : all
      return Wire.jsonResponse(page(ordered, params, 100).map((m) => Wire.encodeMessage(m)))
    })
  )

  const resume = withRun((record) =>
    Effect.gen(function*() {
      if (!record.run.background) {
        return Wire.detail(400, "Run was not created in background mode, so it cannot be retrieved.")
      }
      const parsed = yield* body(ResumeBody, true)
      if (Either.isLeft(parsed)) return parsed.left
      const interval = Duration.millis(Math.max(10, (parsed.right.poll_interval ?? 0.1) * 1000))
      return yield* sseResponse(follow(record.run.id, parsed.right.starting_after ?? 0, interval), `resume ${record.run.id}`)
    })
  )

  const statsRoute: Handler = Effect.map(stats.snapshot, Wire.jsonResponse)

  const armRoute: Handler = Effect.gen(function*() {
    const parsed = yield* body(ArmBody)
    if (Either.isLeft(parsed)) return parsed.left
    const fault = Fault.parse(parsed.right.fault)
    if (Option.isNone(fault)) return Wire.detail(422, `unknown fault ${JSON.stringify(parsed.right.fault)}; one of ${Fault.kinds.join(", ")}`)
    yield* armed.arm(fault.value, parsed.right.count)
    return Wire.jsonResponse({ armed: parsed.right.count, fault: parsed.right.fault })
  })

  // counted too, so that a test can prove that nothing at all reached Letta
  const unknownRoute = HttpLayerRouter.add("*", "*", Effect.as(stats.request("* unmatched"), Wire.detail(404, "Not Found")))

  return Layer.mergeAll(
    route("GET", "/v1/health/", health),
    redirectSlash("GET", "/v1/health", "/v1/health/"),
    route("GET", "/v1/agents/", listAgents),
    redirectSlash("GET", "/v1/agents", "/v1/agents/"),
    route("POST", "/v1/agents/", createAgent),
    redirectSlash("POST", "/v1/agents", "/v1/agents/"),
    route("GET", "/v1/agents/:agent_id", getAgent),
    route("DELETE", "/v1/agents/:agent_id", deleteAgent),
    route("GET", "/v1/agents/:agent_id/messages", listMessages),
    route("POST", "/v1/agents/:agent_id/messages", sendMessage),
    route("POST", "/v1/agents/:agent_id/messages/stream", streamMessage),
    route("POST", "/v1/agents/:agent_id/messages/async", sendAsync),
    route("POST", "/v1/agents/:agent_id/messages/cancel", cancel),
    route("POST", "/v1/conversations/", createConversation),
    redirectSlash("POST", "/v1/conversations", "/v1/conversations/"),
    route("GET", "/v1/conversations/:conversation_id", getConversation),
    route("DELETE", "/v1/conversations/:conversation_id", deleteConversation),
    route("POST", "/v1/conversations/:conversation_id/messages", conversationMessages),
    route("GET", "/v1/runs/:run_id", getRun),
    route("GET", "/v1/runs/:run_id/messages", runMessages),
    route("POST", "/v1/runs/:run_id/stream", resume),
    route("GET", "/_emulator/stats", statsRoute),
    route("POST", "/_emulator/faults", armRoute),
    unknownRoute
  )
}))
