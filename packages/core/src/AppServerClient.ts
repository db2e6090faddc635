/**
 * `LettaClient` over the Letta App Server (`letta server --listen ws://…` of `@letta-ai/letta-code`): its WebSocket
 * protocol, through `@effect/platform`'s `Socket`. One socket per call.
 *
 * The App Server's frames are normalised into core's messages so that everything above works unchanged:
 * - a turn ends at `turn_finished`, not at a `stop_reason` (a tool turn is several runs, each with its own);
 * - `approval_request_message` (auto-approved client tools) becomes a `tool_call_message`, the synthetic
 *   `tool_return_message` stays; lifecycle frames (`client_tool_start`, `loop_error`, …) are dropped;
 * - the runs' `usage_statistics` are summed into one, emitted with the final stop reason.
 * Interrupting a turn sends `abort_message` before the socket closes. A turn sent while an earlier one on its
 * conversation winds down is queued by the App Server, and every socket that sent a command for the conversation gets
 * the earlier turn's frames: a turn is matched by its own ids (see `normalise`), and a queued one is resumed
 * (`resume_queue`), since the App Server may otherwise leave it queued.
 *
 * @since 0.1.0
 */
import { Socket } from "@effect/platform"
import {
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  identity,
  Layer,
  Option,
  Queue,
  Redacted,
  Schema,
  Stream,
  Take
} from "effect"
import WebSocket from "ws"
import * as Json from "./JsonText.js"
import { retryTransient } from "./internal/retry.js"
import { randomUUID } from "./internal/uuid.js"
import { withTimeouts } from "./internal/timeouts.js"
import * as LettaClient from "./LettaClient.js"
import * as LettaConfig from "./LettaConfig.js"
import { DecodeError, excerptOf, HttpError, LettaError, type PipelineError } from "./LettaError.js"
import * as LettaSchema from "./LettaSchema.js"
import * as SchemaText from "./SchemaText.js"

// ---------------------------------------------------------------------------------------------------------------------
// frames
// ---------------------------------------------------------------------------------------------------------------------

const Runtime = Schema.Struct({ agent_id: Schema.String, conversation_id: Schema.String })

/** The frames this client acts on; anything else (status updates, …) is activity and nothing more. */
type Frame =
  | { readonly _tag: "Delta"; readonly delta: unknown }
  | {
    readonly _tag: "Finished"
    readonly stopReason: string | null
    readonly runId: string | null
    readonly error: string | null
  }
  | {
    readonly _tag: "Accepted"
    readonly requestId: string | null
    readonly accepted: boolean
    /** `started`, or `queued` behind a turn still running (or winding down) on the conversation. */
    readonly disposition: string | null
    readonly error: string | null
  }
  /** Queued inputs the App Server took off its queue (`update_queue.removed`), by their `client_message_id`. */
  | { readonly _tag: "Dequeued"; readonly clientMessageIds: ReadonlyArray<string> }
  /**
   * Which message each recent run of the conversation answers (`update_loop_status.loop_status
   * .client_message_ids_by_run_id`). The App Server sends it before a run's first delta (letta-code's
   * `drainTurnStreamWithEmission`: `observeRun`, then `emitLoopStatusUpdate`), to every socket of the conversation.
   */
  | { readonly _tag: "Runs"; readonly clientMessageIdsByRunId: ReadonlyMap<string, ReadonlyArray<string>> }
  | {
    readonly _tag: "Response"
    readonly requestId: string
    readonly success: boolean
    readonly error: string | null
    readonly body: unknown
  }
  | { readonly _tag: "Other" }

const Typed = Schema.Struct({ type: Schema.String })
const StreamDelta = Schema.Struct({ delta: Schema.Unknown, runtime: Schema.optional(Runtime) })
const TurnFinished = Schema.Struct({
  stop_reason: Schema.optional(Schema.NullOr(Schema.String)),
  run_id: Schema.optional(Schema.NullOr(Schema.String)),
  error: Schema.optional(Schema.NullOr(Schema.String))
})
const InputAccepted = Schema.Struct({
  request_id: Schema.optional(Schema.NullOr(Schema.String)),
  accepted: Schema.Boolean,
  disposition: Schema.optional(Schema.NullOr(Schema.String)),
  error: Schema.optional(Schema.NullOr(Schema.String))
})
const UpdateQueue = Schema.Struct({
  removed: Schema.optional(Schema.NullOr(Schema.Array(Schema.Struct({ client_message_id: Schema.optional(Schema.NullOr(Schema.String)) }))))
})
const UpdateLoopStatus = Schema.Struct({
  loop_status: Schema.Struct({
    client_message_ids_by_run_id: Schema.optional(
      Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) }))
    )
  })
})
const CommandResponse = Schema.Struct({
  request_id: Schema.String,
  success: Schema.optional(Schema.Boolean),
  error: Schema.optional(Schema.NullOr(Schema.String))
})

const encodeJson = Schema.encodeSync(Schema.parseJson())

/** One WebSocket text frame; `Left` when it is not JSON, or a frame this client acts on is malformed. */
const decodeFrame = (text: string): Either.Either<Frame, string> =>
  Either.flatMap(Json.parse(text), (json) => {
    const typed = Schema.decodeUnknownEither(Typed)(json)
    if (Either.isLeft(typed)) return Either.right<Frame>({ _tag: "Other" })
    const type = typed.right.type
    const as = <A, I>(schema: Schema.Schema<A, I>, frame: (value: A) => Frame) =>
      Either.mapBoth(Schema.decodeUnknownEither(schema)(json), { onLeft: (e) => `${type}: ${e.message}`, onRight: frame })
    if (type === "stream_delta") return as(StreamDelta, (f) => ({ _tag: "Delta", delta: f.delta }))
    if (type === "turn_finished") {
      return as(TurnFinished, (f) => ({
        _tag: "Finished",
        stopReason: f.stop_reason ?? null,
        runId: f.run_id ?? null,
        error: f.error ?? null
      }))
    }
    if (type === "input_accepted") {
      return as(InputAccepted, (f) => ({
        _tag: "Accepted",
        requestId: f.request_id ?? null,
        accepted: f.accepted,
        disposition: f.disposition ?? null,
        error: f.error ?? null
      }))
    }
    if (type === "update_queue") {
      return as(UpdateQueue, (f) => ({
        _tag: "Dequeued",
        clientMessageIds: (f.removed ?? []).flatMap((entry) => entry.client_message_id ?? [])
      }))
    }
    if (type === "update_loop_status") {
      // a status this client only reads to tell runs apart: a malformed one is activity, not a failure
      return Either.right(Either.match(Schema.decodeUnknownEither(UpdateLoopStatus)(json), {
        onLeft: (): Frame => ({ _tag: "Other" }),
        onRight: (f): Frame => ({
          _tag: "Runs",
          clientMessageIdsByRunId: new Map(Object.entries(f.loop_status.client_message_ids_by_run_id ?? {}))
        })
      }))
    }
    if (type.endsWith("_response")) {
      return as(CommandResponse, (f) => ({
        _tag: "Response",
        requestId: f.request_id,
        success: f.success ?? true,
        error: f.error ?? null,
        body: json
      }))
    }
    return Either.right({ _tag: "Other" })
  })

const AgentResponse = Schema.Struct({ agent: Schema.NullOr(LettaSchema.AgentState) })
const AgentsResponse = Schema.Struct({ agents: LettaSchema.AgentList })
const ConversationResponse = Schema.Struct({ conversation: LettaSchema.Conversation })
const InfoResponse = Schema.Struct({ letta_code_version: Schema.optional(Schema.String) })

// ---------------------------------------------------------------------------------------------------------------------
// normalisation
// ---------------------------------------------------------------------------------------------------------------------

interface TurnState {
  /**
   * Whether this turn has begun: its input was `started`, or, `queued` behind a turn still winding down, taken off the
   * queue. Frames before that belong to the earlier turn (every socket that sent a command for a conversation gets all
   * of its frames) and are passed over.
   */
  readonly begun: boolean
  /** The runs of this turn (a tool turn has two). */
  readonly runIds: ReadonlySet<string>
  /**
   * Runs the App Server last said answer another message: an earlier turn that an abort did not stop (its loop may
   * go on to a next run after a tool returns) streams to this turn's socket too, at the same time.
   */
  readonly foreignRunIds: ReadonlySet<string>
  readonly usage: Option.Option<LettaSchema.UsageStatistics>
  readonly runId: string | null
}

/** The ids a turn is known by: its `input`'s `request_id` and its message's `client_message_id`. */
interface TurnIds {
  readonly requestId: string
  readonly clientMessageId: string
}

const startState: TurnState = { begun: false, runIds: new Set(), foreignRunIds: new Set(), usage: Option.none(), runId: null }

interface TurnStep {
  readonly emit: ReadonlyArray<LettaSchema.LettaMessage>
  readonly end: boolean
  readonly error: LettaError | DecodeError | undefined
}

const addUsage = (
  sum: Option.Option<LettaSchema.UsageStatistics>,
  next: LettaSchema.UsageStatistics
): LettaSchema.UsageStatistics =>
  Option.match(sum, {
    onNone: () => next,
    onSome: (total) => ({
      ...total,
      prompt_tokens: total.prompt_tokens + next.prompt_tokens,
      completion_tokens: total.completion_tokens + next.completion_tokens,
      total_tokens: total.total_tokens + next.total_tokens,
      step_count: (total.step_count ?? 1) + (next.step_count ?? 1)
    })
  })

const streamError = (detail: string, errorType: string | undefined, runId: string | null, agentId: string) =>
  new LettaError({
    reason: "StreamError",
    detail,
    agentId,
    ...(errorType === undefined ? {} : { errorType }),
    ...(runId === null ? {} : { runId })
  })

interface Runtime {
  readonly agent_id: string
  readonly conversation_id: string
}

/**
 * A `turn_finished` with an error: the App Server's "Conversation … not found" and "Agent … not found" (it accepts
 * the input, then ends the turn so, with `stop_reason: "error"`) are `NotFound` like REST's 404s; anything else is the
 * turn's error.
 */
const finishedWithError = (error: string, runtime: Runtime, runId: string | null, request: string): LettaError => {
  const missing = /^(Conversation|Agent) (\S+) not found/.exec(error.trim())
  if (missing !== null) {
    return new LettaError({
      reason: "NotFound",
      detail: excerptOf(error.trim(), 500),
      request,
      agentId: runtime.agent_id,
      ...(missing[1] === "Conversation" && runtime.conversation_id !== "default"
        ? { conversationId: runtime.conversation_id }
        : {})
    })
  }
  return streamError(excerptOf(error, 500), "local_backend_error", runId, runtime.agent_id)
}

/** Whether a delta is the echo of this message (`user_message` whose `otid` is its `client_message_id`). */
const isEcho = (delta: unknown, clientMessageId: string): boolean => {
  const echo = LettaSchema.decodeMessage(delta)
  return Either.isRight(echo) && echo.right.message_type === "user_message" && echo.right.otid === clientMessageId
}

/**
 * One frame of a turn to what core sees. Frames of an earlier turn on the conversation (one aborted and still winding
 * down, or still running) never end or feed this one: the turn begins at its own `input_accepted: started`, or at
 * the echo of its own message when it was queued; a run the App Server says answers another message is passed over;
 * and the turn ends only at a `turn_finished` of its own runs.
 */
const normalise = (runtime: Runtime, request: string, ids: TurnIds) =>
(state: TurnState, frame: Frame): [TurnState, TurnStep] => {
  const agentId = runtime.agent_id
  const none: TurnStep = { emit: [], end: false, error: undefined }
  const begin: TurnState = { ...state, begun: true }
  if (frame._tag === "Runs") {
    const foreign = [...frame.clientMessageIdsByRunId].flatMap(([runId, messages]) =>
      messages.includes(ids.clientMessageId) ? [] : [runId]
    )
    return [{ ...state, foreignRunIds: new Set(foreign) }, none]
  }
  if (!state.begun) {
    switch (frame._tag) {
      case "Accepted":
        if (frame.requestId !== null && frame.requestId !== ids.requestId) return [state, none]
        if (!frame.accepted) return [state, refused(frame, agentId)]
        return [frame.disposition === "queued" ? state : begin, none]
      case "Dequeued":
        return [frame.clientMessageIds.includes(ids.clientMessageId) ? begin : state, none]
      case "Delta":
        // a queued turn's message is echoed when it starts
        return [isEcho(frame.delta, ids.clientMessageId) ? begin : state, none]
      default:
        return [state, none]
    }
  }
  switch (frame._tag) {
    case "Delta": {
      // strict about what the bridge reads only: a malformed message it needs fails the turn, anything else passes
      const message = LettaSchema.decodeMessage(frame.delta)
      if (Either.isLeft(message)) {
        return [state, {
          ...none,
          error: new DecodeError({
            reason: "Schema",
            what: "App Server stream_delta",
            request,
            detail: SchemaText.describe(message.left),
            excerpt: excerptOf(encodeJson(frame.delta))
          })
        }]
      }
      const m = message.right
      if ("run_id" in m && typeof m.run_id === "string" && state.foreignRunIds.has(m.run_id)) return [state, none]
      const runId = "run_id" in m && typeof m.run_id === "string" ? m.run_id : state.runId
      const next = { ...state, runId, runIds: runId === null || state.runIds.has(runId) ? state.runIds : new Set(state.runIds).add(runId) }
      switch (m.message_type) {
        case "approval_request_message":
          return [next, { ...none, emit: [{ ...m, message_type: "tool_call_message" }] }]
        case "usage_statistics":
          return [{ ...next, usage: Option.some(addUsage(state.usage, m)) }, none]
        case "stop_reason":
        case "unknown":
        case "ping":
        case "user_message":
          return [next, none]
        case "error_message":
          return [next, { ...none, error: streamError(m.message, m.error_type, runId, agentId) }]
        default:
          return [next, { ...none, emit: [m] }]
      }
    }
    case "Finished": {
      // another turn's end (an earlier run finishing late) is not this turn's
      if (frame.runId !== null && (state.foreignRunIds.has(frame.runId) || (state.runIds.size > 0 && !state.runIds.has(frame.runId)))) {
        return [state, none]
      }
      const runId = frame.runId ?? state.runId
      if (frame.error !== null) {
        return [state, { ...none, end: true, error: finishedWithError(frame.error, runtime, runId, request) }]
      }
      const stop: LettaSchema.LettaMessage = {
        message_type: "stop_reason",
        stop_reason: frame.stopReason ?? "end_turn",
        ...(runId === null ? {} : { run_id: runId })
      }
      return [state, { emit: [...Option.toArray(state.usage), stop], end: true, error: undefined }]
    }
    default:
      return [state, none]
  }
}

/** The App Server refused the input (`input_accepted` with `accepted: false`). */
const refused = (frame: Extract<Frame, { readonly _tag: "Accepted" }>, agentId: string): TurnStep => ({
  emit: [],
  end: true,
  error: new LettaError({ reason: "Conflict", detail: frame.error ?? "the App Server did not accept the input", agentId })
})

// ---------------------------------------------------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------------------------------------------------

/** The WebSocket endpoint of an App Server URL: `/ws` unless the URL names a path. */
export const socketUrl = (baseUrl: string): string => {
  const url = new URL(baseUrl)
  return url.pathname === "" || url.pathname === "/" ? `${url.origin}/ws` : url.toString()
}

const unsupported = (what: string) =>
  Effect.fail(
    new LettaError({
      reason: "InvalidRequest",
      detail: `${what} is not offered by the Letta App Server (LETTA_BACKEND=app-server); poll mode needs the REST API`
    })
  )

/**
 * The client over an App Server, configured by `LettaConfig` (`LETTA_BASE_URL=ws://…`, `LETTA_API_KEY` as its bearer
 * token).
 *
 * @category constructors
 */
export const make: Effect.Effect<LettaClient.Service, never, LettaConfig.LettaConfig> = Effect.gen(function*() {
  const settings = yield* LettaConfig.LettaConfig
  const limits = settings.timeouts
  const endpoint = socketUrl(settings.baseUrl)
  const label = `WebSocket ${endpoint}`
  const token = Option.map(settings.apiKey, Redacted.value)
  // the platform's Socket over `ws`, which (unlike the browser API) can send the bearer token on the upgrade
  type Constructor = Context.Tag.Service<typeof Socket.WebSocketConstructor>
  const constructor: Constructor = (url, protocols) =>
    // `ws` implements the WebSocket interface the platform expects (as NodeSocket's own constructor relies on)
    new WebSocket(url, protocols, {
      headers: Option.match(token, { onNone: () => ({}), onSome: (t) => ({ authorization: `Bearer ${t}` }) })
    }) as unknown as ReturnType<Constructor>

  const transportError = (error: Socket.SocketError): LettaError | HttpError => {
    // `ws` reports a refused upgrade as an error event whose message names the status ("Unexpected server response: 401")
    const cause = error.cause
    const causeText = typeof cause === "object" && cause !== null && "message" in cause && typeof cause.message === "string"
      ? cause.message
      : String(cause ?? "")
    const text = `${error.message} ${causeText}`
    return /\b401\b/.test(text)
      ? new LettaError({ reason: "Unauthorized", detail: "the App Server refused the bearer token", request: label })
      : new HttpError({ reason: "Transport", request: label, detail: excerptOf(text.trim()), cause: error })
  }

  /** An open socket: send a command, and the frames that arrive, until the socket closes. */
  const connect = Effect.gen(function*() {
    const socket = yield* Socket.makeWebSocket(endpoint, { closeCodeIsError: () => false }).pipe(
      Effect.provideService(Socket.WebSocketConstructor, constructor)
    )
    // frames in order, then how the socket ended
    const incoming = yield* Queue.unbounded<Take.Take<string, LettaError | HttpError>>()
    const closed = yield* Deferred.make<void, LettaError | HttpError>()
    const decoder = new TextDecoder()
    yield* socket.runRaw((data) => Queue.offer(incoming, Take.of(typeof data === "string" ? data : decoder.decode(data)))).pipe(
      Effect.mapError(transportError),
      Effect.exit,
      Effect.tap((exit) => Queue.offer(incoming, Exit.isSuccess(exit) ? Take.end : Take.failCause(exit.cause))),
      Effect.flatMap((exit) => Deferred.done(closed, Exit.asVoid(exit))),
      Effect.forkScoped
    )
    const write = yield* socket.writer
    // the platform's writer waits for the socket to be open: a socket that failed or closed would keep it waiting
    const gone = Deferred.await(closed).pipe(
      Effect.zipRight(Effect.fail(new HttpError({ reason: "Transport", request: label, detail: "the App Server closed the socket" })))
    )
    const send = (command: Record<string, unknown>) =>
      write(encodeJson(command)).pipe(Effect.mapError(transportError), Effect.raceFirst(gone))
    const frames: Stream.Stream<Frame, LettaError | HttpError | DecodeError> = Stream.fromQueue(incoming).pipe(
      Stream.flattenTake,
      Stream.mapEffect((text) =>
        Either.match(decodeFrame(text), {
          onRight: Effect.succeed,
          onLeft: (detail) =>
            Effect.fail(new DecodeError({ reason: "Schema", what: "App Server frame", request: label, excerpt: excerptOf(text), detail }))
        })
      )
    )
    /** Ends `frames` where they are (a timeout's way to stop the wait). */
    const abort = Queue.offer(incoming, Take.end)
    return { send, frames, abort }
  })

  const failedResponse = (detail: string, agentId?: string): LettaError =>
    new LettaError({
      reason: /not found/i.test(detail) ? "NotFound" : "ServerError",
      detail,
      request: label,
      ...(agentId === undefined ? {} : { agentId })
    })

  /** Commands that only read: retried after a transient failure, like the REST client's GETs. */
  const readCommands = new Set(["agent_list", "agent_retrieve", "conversation_retrieve", "app_server_info"])

  /** One command and its response (`<type>_response` with the same request id). */
  const command = <A, I>(
    type: string,
    fields: Record<string, unknown>,
    schema: Schema.Schema<A, I>,
    agentId?: string
  ): Effect.Effect<A, PipelineError> =>
    Effect.scoped(Effect.gen(function*() {
      const requestId = `lp-${randomUUID()}`
      const connection = yield* connect
      yield* connection.send({ type, request_id: requestId, ...fields })
      const response = yield* connection.frames.pipe(
        Stream.filterMap((frame) =>
          frame._tag === "Response" && frame.requestId === requestId ? Option.some(frame) : Option.none()
        ),
        Stream.runHead,
        Effect.timeoutFail({ duration: limits.connect, onTimeout: () => new HttpError({ reason: "Timeout", phase: "connect", request: label, detail: `no ${type}_response` }) })
      )
      if (Option.isNone(response)) {
        return yield* new HttpError({ reason: "Transport", request: label, detail: `the App Server closed the socket before answering ${type}` })
      }
      if (!response.value.success) return yield* failedResponse(response.value.error ?? `${type} failed`, agentId)
      return yield* Schema.decodeUnknown(schema)(response.value.body).pipe(
        Effect.mapError((error) => new DecodeError({ reason: "Schema", what: `${type} response`, request: label, detail: error.message }))
      )
    })).pipe(readCommands.has(type) ? retryTransient(settings.retries, `${type} on ${label}`) : identity)

  /** A turn: `input`, then the normalised frames until `turn_finished`; interruption sends `abort_message`. */
  const turn = (
    agentId: string,
    conversationId: string,
    content: LettaSchema.MessageCreate["content"]
  ): Stream.Stream<LettaSchema.LettaMessage, PipelineError> => {
    const runtime = { agent_id: agentId, conversation_id: conversationId }
    const messages = Stream.unwrapScoped(Effect.gen(function*() {
      const connection = yield* connect
      let finished = false
      yield* Effect.addFinalizer(() =>
        finished
          ? Effect.void
          : connection.send({ type: "abort_message", runtime, request_id: `lp-abort-${randomUUID()}` }).pipe(
            // finalizers are uninterruptible: without this the timeout could not cut a stuck write
            Effect.interruptible,
            Effect.timeout(Duration.seconds(1)),
            Effect.ignore
          )
      )
      const ids: TurnIds = { requestId: `lp-${randomUUID()}`, clientMessageId: `lp-${randomUUID()}` }
      yield* connection.send({
        type: "input",
        request_id: ids.requestId,
        runtime,
        payload: {
          kind: "create_message",
          exclude_interactive_tools: true,
          messages: [{
            role: "user",
            content: typeof content === "string" ? [{ type: "text", text: content }] : content,
            client_message_id: ids.clientMessageId
          }]
        }
      })
      const ended = Stream.fail(
        new LettaError({ reason: "Incomplete", detail: "the App Server closed the socket before the turn finished", agentId })
      )
      // A queued input can stay queued for good: when the turn before it ends, the App Server schedules one pump of
      // its queue on that turn's socket, which a client that stopped the turn has closed, and the pump gives up.
      // `resume_queue` schedules a pump on this socket, but not while the stale one is still scheduled: so it is sent
      // when the input is queued, when the turn before ends, and every half second until the input is taken off the
      // queue (bounded by the turn's timeouts). It changes nothing else (recorded with App Server 0.32.18).
      let queued = false
      const scope = yield* Effect.scope
      const resume = connection.send({ type: "resume_queue", runtime, request_id: `lp-resume-${randomUUID()}` })
      const keepResuming = Effect.sleep(Duration.millis(500)).pipe(
        Effect.zipRight(Effect.suspend(() => (queued ? resume : Effect.void))),
        Effect.repeat({ while: () => queued })
      )
      const resumeWhenQueued = (frame: Frame): Effect.Effect<void, LettaError | HttpError> => {
        if (frame._tag === "Accepted" && frame.requestId === ids.requestId && frame.disposition === "queued") {
          queued = true
          return Effect.zipRight(resume, Effect.asVoid(Effect.forkIn(Effect.ignore(keepResuming), scope)))
        }
        if (!queued) return Effect.void
        if (frame._tag === "Dequeued" && frame.clientMessageIds.includes(ids.clientMessageId)) queued = false
        if (frame._tag === "Delta" && isEcho(frame.delta, ids.clientMessageId)) queued = false
        return frame._tag === "Finished" && queued ? resume : Effect.void
      }
      return connection.frames.pipe(
        Stream.tap(resumeWhenQueued),
        // every frame counts as activity, status updates included
        withTimeouts(label, { first: limits.firstEvent, idle: limits.idle, turn: limits.turn }, connection.abort),
        Stream.mapAccum<TurnState, Frame, TurnStep>(startState, normalise(runtime, label, ids)),
        Stream.takeUntil((step) => step.end || step.error !== undefined),
        Stream.mapEffect((step) => {
          if (step.end) finished = true
          return step.error === undefined ? Effect.succeed(step) : Effect.fail(step.error)
        }),
        Stream.concat(Stream.suspend(() => (finished ? Stream.empty : ended))),
        Stream.flatMap((step) => Stream.fromIterable(step.emit))
      )
    }))
    return messages
  }

  const streamMessage: LettaClient.Service["streamMessage"] = (agentId, body) =>
    Stream.unwrap(Effect.map(LettaClient.checkAgentId(agentId), (id) =>
      turn(id, "default", body.messages.at(-1)?.content ?? "")))

  const streamConversation: LettaClient.Service["streamConversation"] = (conversationId, body) =>
    Stream.unwrap(Effect.gen(function*() {
      const id = yield* LettaClient.checkConversationId(conversationId)
      if (body.agent_id === undefined) {
        return yield* new LettaError({ reason: "InvalidRequest", detail: "the App Server needs the agent of a conversation" })
      }
      const agent = yield* LettaClient.checkAgentId(body.agent_id)
      return turn(agent, id, body.messages.at(-1)?.content ?? "")
    }))

  /** A whole turn as a `LettaResponse`. */
  const collectTurn = (stream: Stream.Stream<LettaSchema.LettaMessage, PipelineError>) =>
    Effect.map(Stream.runCollect(stream), (chunk): LettaSchema.LettaResponse => {
      const all = Array.from(chunk)
      const stop = all.findLast((m) => m.message_type === "stop_reason")
      const usage = all.findLast((m) => m.message_type === "usage_statistics")
      return {
        messages: all.filter((m) => m.message_type !== "stop_reason" && m.message_type !== "usage_statistics"),
        stop_reason: stop?.message_type === "stop_reason" ? stop : { message_type: "stop_reason", stop_reason: "end_turn" },
        usage: usage?.message_type === "usage_statistics"
          ? usage
          : { message_type: "usage_statistics", completion_tokens: 0, prompt_tokens: 0, total_tokens: 0 }
      }
    })

  return LettaClient.LettaClient.of({
    streamMessage,
    streamConversation,
    sendMessage: (agentId, body) => collectTurn(streamMessage(agentId, body)),
    sendConversation: (conversationId, body) => collectTurn(streamConversation(conversationId, body)),
    createRun: () => unsupported("Background runs"),
    getRun: () => unsupported("Runs"),
    listRunMessages: () => unsupported("Runs"),
    cancelRuns: () => unsupported("Cancelling runs"),
    listMessages: () => unsupported("Listing messages"),
    listAgents: (query = {}) =>
      command("agent_list", {}, AgentsResponse).pipe(
        Effect.map(({ agents }) =>
          agents.filter((agent) =>
            (query.name === undefined || agent.name === query.name) &&
            (query.tags === undefined || query.tags.length === 0 ||
              (query.matchAllTags === true
                ? query.tags.every((tag) => (agent.tags ?? []).includes(tag))
                : query.tags.some((tag) => (agent.tags ?? []).includes(tag))))
          ).slice(0, query.limit)
        )
      ),
    getAgent: (agentId) =>
      Effect.gen(function*() {
        const id = yield* LettaClient.checkAgentId(agentId)
        const { agent } = yield* command("agent_retrieve", { agent_id: id }, AgentResponse, id)
        return agent === null ? yield* failedResponse(`Agent ${id} not found`, id) : agent
      }),
    health: Effect.map(command("app_server_info", {}, InfoResponse), (info) => ({
      version: info.letta_code_version ?? "unknown",
      status: "ok"
    })),
    createConversation: (agentId) =>
      Effect.gen(function*() {
        const id = yield* LettaClient.checkAgentId(agentId)
        const { conversation } = yield* command("conversation_create", { body: { agent_id: id } }, ConversationResponse, id)
        return conversation
      }),
    getConversation: (conversationId) =>
      Effect.gen(function*() {
        const id = yield* LettaClient.checkConversationId(conversationId)
        const { conversation } = yield* command("conversation_retrieve", { conversation_id: id }, ConversationResponse)
        return conversation
      })
  })
})

/**
 * The App Server client over the given settings.
 *
 * @category layers
 */
export const layer: Layer.Layer<LettaClient.LettaClient, never, LettaConfig.LettaConfig> = Layer.effect(
  LettaClient.LettaClient,
  make
)
