/**
 * The App Server's frames as this client reads them, and how the frames of one turn become core's messages
 * ({@link normalise}). Pure: no socket here (`appServerSession.ts` has it).
 */
import { Either, Option, Schema } from "effect"
import * as Json from "../JsonText.js"
import { DecodeError, excerptOf, LettaError } from "../LettaError.js"
import * as LettaSchema from "../LettaSchema.js"
import * as SchemaText from "../SchemaText.js"

// ---------------------------------------------------------------------------------------------------------------------
// frames
// ---------------------------------------------------------------------------------------------------------------------

const Runtime = Schema.Struct({ agent_id: Schema.String, conversation_id: Schema.String })

/** The frames this client acts on; anything else (status updates, …) is activity and nothing more. */
export type Frame =
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

export const encodeJson = Schema.encodeSync(Schema.parseJson())

/** One WebSocket text frame; `Left` when it is not JSON, or a frame this client acts on is malformed. */
export const decodeFrame = (text: string): Either.Either<Frame, string> =>
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


// ---------------------------------------------------------------------------------------------------------------------
// normalisation
// ---------------------------------------------------------------------------------------------------------------------

export interface TurnState {
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
export interface TurnIds {
  readonly requestId: string
  readonly clientMessageId: string
}

export const startState: TurnState = { begun: false, runIds: new Set(), foreignRunIds: new Set(), usage: Option.none(), runId: null }

export interface TurnStep {
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

export interface Runtime {
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
export const isEcho = (delta: unknown, clientMessageId: string): boolean => {
  const echo = LettaSchema.decodeMessage(delta)
  return Either.isRight(echo) && echo.right.message_type === "user_message" && echo.right.otid === clientMessageId
}

/**
 * One frame of a turn to what core sees. Frames of an earlier turn on the conversation (one aborted and still winding
 * down, or still running) never end or feed this one: the turn begins at its own `input_accepted: started`, or at
 * the echo of its own message when it was queued; a run the App Server says answers another message is passed over;
 * and the turn ends only at a `turn_finished` of its own runs.
 */
export const normalise = (runtime: Runtime, request: string, ids: TurnIds) =>
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

