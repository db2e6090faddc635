/**
 * Pure stream transforms between Letta's messages and {@link StreamEvent}s. No I/O.
 *
 * - Token deltas keep Letta's `otid` as their message id: one LLM response shares one `id` across reasoning, text and
 *   tool calls, so `id` alone would merge them.
 * - Tool-call fragments are joined per `tool_call_id` and the call is emitted once complete, i.e. when anything else
 *   arrives (its return, the next step, the stop reason) or the stream ends.
 * - `done` closes the stream with the stop reason and run id Letta gave.
 *
 * @since 0.1.0
 */
import { Chunk, Effect, Option, Stream } from "effect"
import type * as LettaSchema from "./LettaSchema.js"
import * as StreamEvent from "./StreamEvent.js"

interface PendingCall {
  readonly id: string
  readonly name: string
  readonly arguments: string
  readonly requiresApproval: boolean
}

interface State {
  /** Calls whose fragments are still arriving, in order of appearance. */
  readonly pending: ReadonlyArray<PendingCall>
  /** The last `tool_call_id` seen per `otid`, for fragments that omit it. */
  readonly lastCallId: Readonly<Record<string, string>>
  /** Names of completed calls, for their results. */
  readonly names: Readonly<Record<string, string>>
  readonly runId: string | null
  readonly stopReason: string | null
}

const initial: State = { pending: [], lastCallId: {}, names: {}, runId: null, stopReason: null }

const End = Symbol.for("@letta-pipeline/core/ChatStream/End")
type Input = LettaSchema.LettaMessage | typeof End

/** The id that groups the deltas of one message. */
export const messageKey = (message: { readonly id: string; readonly otid?: string | null | undefined }, type: string) =>
  message.otid ?? `${message.id}:${type}`

const textOf = (content: string | ReadonlyArray<{ readonly text: string }>): string =>
  typeof content === "string" ? content : content.map((part) => part.text).join("")

const partsText = (parts: string | ReadonlyArray<unknown>): string =>
  typeof parts === "string"
    ? parts
    : parts.map((part) =>
      typeof part === "object" && part !== null && "text" in part && typeof part.text === "string" ? part.text : ""
    ).join("")

const flush = (state: State): [State, ReadonlyArray<StreamEvent.StreamEvent>] => {
  if (state.pending.length === 0) return [state, []]
  const events: Array<StreamEvent.StreamEvent> = []
  const names: Record<string, string> = { ...state.names }
  for (const call of state.pending) {
    names[call.id] = call.name
    events.push(
      StreamEvent.toolCall({
        id: call.id,
        name: call.name,
        arguments: call.arguments,
        requires_approval: call.requiresApproval
      }),
      call.requiresApproval
        ? StreamEvent.status(`Waiting for approval to run ${call.name}`, true)
        : StreamEvent.status(`Running ${call.name}…`, false)
    )
  }
  return [{ ...state, pending: [], lastCallId: {}, names }, events]
}

const addCallFragments = (
  state: State,
  message: typeof LettaSchema.ToolCallMessage.Type | typeof LettaSchema.ApprovalRequestMessage.Type
): State => {
  // `tool_calls` supersedes the deprecated `tool_call` (its first element in step mode, the same delta in token mode)
  const fragments = message.tool_calls === undefined || message.tool_calls === null
    ? message.tool_call === undefined || message.tool_call === null ? [] : [message.tool_call]
    : Array.isArray(message.tool_calls)
    ? message.tool_calls
    : [message.tool_calls]
  const group = messageKey(message, message.message_type)
  let pending = state.pending
  let lastCallId = state.lastCallId
  for (const fragment of fragments) {
    const id = fragment.tool_call_id ?? lastCallId[group]
    if (id === undefined) continue // Letta suppresses fragments without an id; so do we
    lastCallId = lastCallId[group] === id ? lastCallId : { ...lastCallId, [group]: id }
    const known = pending.find((call) => call.id === id)
    const previous = known ??
      { id, name: "", arguments: "", requiresApproval: message.message_type === "approval_request_message" }
    const next: PendingCall = {
      ...previous,
      name: fragment.name === undefined || fragment.name === null || fragment.name === "" ? previous.name : fragment.name,
      arguments: previous.arguments + (fragment.arguments ?? "")
    }
    pending = known === undefined ? [...pending, next] : pending.map((call) => (call === known ? next : call))
  }
  return { ...state, pending, lastCallId }
}

const results = (
  state: State,
  message: typeof LettaSchema.ToolReturnMessage.Type
): ReadonlyArray<StreamEvent.StreamEvent> => {
  const returns = message.tool_returns !== undefined && message.tool_returns !== null && message.tool_returns.length > 0
    ? message.tool_returns.map((r) => ({ id: r.tool_call_id, status: r.status, output: partsText(r.tool_return) }))
    : [{ id: message.tool_call_id, status: message.status, output: message.tool_return }]
  return returns.flatMap((r) => {
    const name = state.names[r.id] ?? "tool"
    return [
      StreamEvent.toolResult({ id: r.id, name, status: r.status, output: r.output }),
      StreamEvent.status(r.status === "success" ? `${name} finished` : `${name} failed`, true)
    ]
  })
}

const withRunId = (state: State, runId: string | null | undefined): State =>
  state.runId === null && runId !== undefined && runId !== null && runId !== "" ? { ...state, runId } : state

const step = (current: State, input: Input): [State, ReadonlyArray<StreamEvent.StreamEvent>] => {
  if (input === End) {
    const [state, events] = flush(current)
    return [state, [...events, StreamEvent.done(state.stopReason, state.runId)]]
  }
  const tracked = withRunId(current, "run_id" in input && typeof input.run_id === "string" ? input.run_id : undefined)
  switch (input.message_type) {
    case "tool_call_message":
    case "approval_request_message":
      return [addCallFragments(tracked, input), []]
    case "ping":
    case "user_message":
    case "system_message":
    case "approval_response_message":
    case "error_message":
      return [tracked, []]
    default:
      break
  }
  const [state, flushed] = flush(tracked)
  const emit = (...events: ReadonlyArray<StreamEvent.StreamEvent>): [State, ReadonlyArray<StreamEvent.StreamEvent>] => [
    state,
    flushed.length === 0 ? events : [...flushed, ...events]
  ]
  switch (input.message_type) {
    case "reasoning_message":
      return input.reasoning === ""
        ? emit()
        : emit(StreamEvent.reasoning(messageKey(input, input.message_type), input.reasoning))
    case "hidden_reasoning_message":
      return emit(StreamEvent.status("Reasoning (hidden by the model provider)", true))
    case "assistant_message": {
      const text = textOf(input.content)
      return text === "" ? emit() : emit(StreamEvent.message(messageKey(input, input.message_type), text))
    }
    case "tool_return_message":
      return emit(...results(state, input))
    case "stop_reason":
      return [{ ...state, stopReason: input.stop_reason }, flushed]
    case "usage_statistics":
      return emit(StreamEvent.usage({
        prompt_tokens: input.prompt_tokens,
        completion_tokens: input.completion_tokens,
        total_tokens: input.total_tokens,
        ...(typeof input.step_count === "number" ? { step_count: input.step_count } : {}),
        ...(typeof input.reasoning_tokens === "number" ? { reasoning_tokens: input.reasoning_tokens } : {}),
        ...(typeof input.cached_input_tokens === "number" ? { cached_input_tokens: input.cached_input_tokens } : {})
      }))
    case "summary_message":
      return emit(StreamEvent.status("Conversation summarised to fit the context window", true))
    default:
      // event_message and message types this version does not know
      return emit()
  }
}

/**
 * `Stream.mapAccum` to any number of outputs per input, one chunk out per chunk in (`mapAccum` then
 * `flattenIterables` would make a chunk, and a step downstream, per input).
 *
 * @category combinators
 */
export const mapAccumConcat = <S, A, B>(initial: S, step: (state: S, input: A) => readonly [S, Iterable<B>]) =>
<E, R>(self: Stream.Stream<A, E, R>): Stream.Stream<B, E, R> =>
  self.pipe(Stream.mapAccum(initial, step), Stream.mapChunks(Chunk.flatMap(Chunk.fromIterable)))

/**
 * Letta's messages of one turn to {@link StreamEvent}s, ending with `done`.
 *
 * @category combinators
 */
export const toEvents = <E, R>(
  messages: Stream.Stream<LettaSchema.LettaMessage, E, R>
): Stream.Stream<StreamEvent.StreamEvent, E, R> =>
  messages.pipe(
    Stream.concat(Stream.succeed<Input>(End)),
    mapAccumConcat(initial, step)
  )

// ---------------------------------------------------------------------------------------------------------------------
// collecting a turn
// ---------------------------------------------------------------------------------------------------------------------

/** A whole turn, assembled from its events. @category models */
export interface Turn {
  /** The answer; separate messages joined by a blank line. */
  readonly content: string
  readonly reasoning: string
  readonly toolCalls: ReadonlyArray<StreamEvent.Of<"tool_call">["data"]>
  readonly toolResults: ReadonlyArray<StreamEvent.Of<"tool_result">["data"]>
  readonly usage: Option.Option<StreamEvent.Of<"usage">["data"]>
  readonly title: Option.Option<string>
  readonly stopReason: string | null
  readonly runId: string | null
  /** Set when the stream carried an `error` event. */
  readonly error: Option.Option<StreamEvent.Of<"error">["data"]>
}

/** @category constructors */
export const emptyTurn: Turn = {
  content: "",
  reasoning: "",
  toolCalls: [],
  toolResults: [],
  usage: Option.none(),
  title: Option.none(),
  stopReason: null,
  runId: null,
  error: Option.none()
}

interface Collecting extends Turn {
  readonly lastMessageId: string | null
  readonly lastReasoningId: string | null
}

const startCollecting: Collecting = { ...emptyTurn, lastMessageId: null, lastReasoningId: null }

const append = (text: string, lastId: string | null, id: string, delta: string): string =>
  text === "" || lastId === id ? text + delta : `${text}\n\n${delta}`

const addEvent = (turn: Collecting, event: StreamEvent.StreamEvent): Collecting => {
  switch (event.type) {
    case "message":
      return {
        ...turn,
        content: append(turn.content, turn.lastMessageId, event.data.id, event.data.content),
        lastMessageId: event.data.id
      }
    case "reasoning":
      return {
        ...turn,
        reasoning: append(turn.reasoning, turn.lastReasoningId, event.data.id, event.data.content),
        lastReasoningId: event.data.id
      }
    case "tool_call":
      return { ...turn, toolCalls: [...turn.toolCalls, event.data] }
    case "tool_result":
      return { ...turn, toolResults: [...turn.toolResults, event.data] }
    case "usage":
      return { ...turn, usage: Option.some(event.data) }
    case "title":
      return { ...turn, title: Option.some(event.data.title) }
    case "done":
      return { ...turn, stopReason: event.data.stop_reason, runId: event.data.run_id }
    case "error":
      return { ...turn, error: Option.some(event.data) }
    case "status":
      return turn
  }
}

/**
 * Runs a turn's events to the end and assembles them.
 *
 * @category combinators
 */
export const collect = <E, R>(events: Stream.Stream<StreamEvent.StreamEvent, E, R>): Effect.Effect<Turn, E, R> =>
  Stream.runFold(events, startCollecting, addEvent).pipe(
    Effect.map(({ lastMessageId: _m, lastReasoningId: _r, ...turn }) => turn)
  )
