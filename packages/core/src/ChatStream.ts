/**
 * Pure stream transforms between Letta's messages and {@link StreamEvent}s. No I/O.
 *
 * - Token deltas keep Letta's `otid` as their message id: one LLM response shares one `id` across reasoning, text and
 *   tool calls, so `id` alone would merge them.
 * - Tool-call fragments are joined per `tool_call_id` and the call is emitted once complete, i.e. when anything else
 *   arrives (its return, the next step, the stop reason) or the stream ends.
 * - However a turn ends, every status it opened is closed (`done: true`), and a call that never got its result is
 *   still shown, with a `not_run` result.
 * - `done` closes a successful turn with the stop reason and run id Letta gave. A stop reason by which the run failed
 *   or was cancelled (Letta's rule, `LettaSchema.runStatusOf`) ends the turn with that `LettaError` instead, after the
 *   events that came before it, even when Letta sent no error event; so does a turn without any answer (no text, no
 *   tool call: reason `Empty`), which is never a success.
 *
 * @since 0.1.0
 */
import { Effect, Option, Stream } from "effect"
import * as LettaError from "./LettaError.js"
import type * as LettaSchema from "./LettaSchema.js"
import * as StreamEvent from "./StreamEvent.js"
import * as StreamStage from "./StreamStage.js"

/** A tool call whose fragments are still arriving; changed in place as they come. */
interface Call {
  readonly id: string
  name: string
  arguments: string
  readonly requiresApproval: boolean
}

/**
 * What a turn has seen so far: one per run of the stream, changed in place (a text frame allocates its event and
 * nothing else).
 */
interface State {
  /** Calls whose fragments are still arriving, in order of appearance. */
  pending: Array<Call>
  /** The last `tool_call_id` seen per `otid`, for fragments that omit it. */
  readonly lastCallId: Map<string, string>
  /** Names of emitted calls, for their results. */
  readonly names: Map<string, string>
  /** Emitted calls still waiting for their result (their "Running …" status is open). */
  running: Array<Call>
  runId: string | null
  stopReason: string | null
  /** Whether the turn gave any answer: text, or a tool call. */
  answered: boolean
}

const initialState = (): State => ({
  pending: [],
  lastCallId: new Map(),
  names: new Map(),
  running: [],
  runId: null,
  stopReason: null,
  answered: false
})

/** The id that groups the deltas of one message. */
export const messageKey = (
  message: { readonly id?: string | undefined; readonly otid?: string | null | undefined },
  type: string
) => message.otid ?? (message.id === undefined ? type : `${message.id}:${type}`)

/**
 * A delta as it is appended to the text before it: a blank line first when it starts a new message after another one
 * (consecutive reasoning messages, or answers, never run together).
 *
 * @category constructors
 */
export const separated = (previousId: string | null, id: string, delta: string): string =>
  previousId === null || previousId === id ? delta : `\n\n${delta}`

const textOf = (content: string | ReadonlyArray<{ readonly text: string }>): string =>
  typeof content === "string" ? content : content.map((part) => part.text).join("")

const partsText = (parts: string | ReadonlyArray<unknown>): string =>
  typeof parts === "string"
    ? parts
    : parts.map((part) =>
      typeof part === "object" && part !== null && "text" in part && typeof part.text === "string" ? part.text : ""
    ).join("")

type Out = Array<StreamEvent.StreamEvent>

/** Emits the calls whose fragments are complete (something else arrived), with their statuses. */
const flush = (state: State, out: Out): void => {
  if (state.pending.length === 0) return
  for (const call of state.pending) {
    state.names.set(call.id, call.name)
    out.push(
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
    if (!call.requiresApproval) state.running.push(call)
  }
  state.pending = []
  state.lastCallId.clear()
  state.answered = true
}

const addCallFragments = (
  state: State,
  message: typeof LettaSchema.ToolCallMessage.Type | typeof LettaSchema.ApprovalRequestMessage.Type
): void => {
  // `tool_calls` supersedes the deprecated `tool_call` (its first element in step mode, the same delta in token mode)
  const fragments = message.tool_calls === undefined || message.tool_calls === null
    ? message.tool_call === undefined || message.tool_call === null ? [] : [message.tool_call]
    : Array.isArray(message.tool_calls)
    ? message.tool_calls
    : [message.tool_calls]
  const group = messageKey(message, message.message_type)
  for (const fragment of fragments) {
    const id = fragment.tool_call_id ?? state.lastCallId.get(group)
    if (id === undefined) continue // Letta suppresses fragments without an id; so do we
    state.lastCallId.set(group, id)
    let call = state.pending.find((pending) => pending.id === id)
    if (call === undefined) {
      call = { id, name: "", arguments: "", requiresApproval: message.message_type === "approval_request_message" }
      state.pending.push(call)
    }
    if (fragment.name !== undefined && fragment.name !== null && fragment.name !== "") call.name = fragment.name
    if (fragment.arguments !== undefined && fragment.arguments !== null) call.arguments += fragment.arguments
  }
}

const results = (state: State, message: typeof LettaSchema.ToolReturnMessage.Type, out: Out): void => {
  const returns = message.tool_returns !== undefined && message.tool_returns !== null && message.tool_returns.length > 0
    ? message.tool_returns.map((r) => ({ id: r.tool_call_id, status: r.status, output: partsText(r.tool_return) }))
    : [{ id: message.tool_call_id, status: message.status, output: message.tool_return }]
  for (const r of returns) {
    const name = state.names.get(r.id) ?? "tool"
    out.push(
      StreamEvent.toolResult({ id: r.id, name, status: r.status, output: r.output }),
      StreamEvent.status(r.status === "success" ? `${name} finished` : `${name} failed`, true)
    )
  }
  const answered = new Set(returns.map((r) => r.id))
  state.running = state.running.filter((call) => !answered.has(call.id))
}

/** Closes what the turn left open: calls without a result are shown as not run, their statuses done. */
const close = (state: State, why: string, out: Out): void => {
  flush(state, out)
  for (const call of state.running) {
    out.push(
      StreamEvent.toolResult({
        id: call.id,
        name: call.name,
        status: "not_run",
        output: `Not run: the turn ended before Letta returned a result (${why})`
      }),
      StreamEvent.status(`${call.name} not run`, true)
    )
  }
  state.running = []
}

/**
 * How a turn that ended cleanly failed, if it did: a stop reason by which Letta counts the run as failed or cancelled,
 * or no answer at all (no text, no tool call), which is never a success.
 */
const failureOf = (state: State, agentId?: string): LettaError.LettaError | undefined => {
  const ids = { runId: state.runId, agentId }
  const stopped = state.stopReason === null ? undefined : LettaError.fromStopReason(state.stopReason, ids)
  if (stopped !== undefined || state.answered) return stopped
  return new LettaError.LettaError({
    reason: "Empty",
    detail: `no text and no tool call before the turn ended (stop reason ${state.stopReason ?? "none"})`,
    ...(state.stopReason === null ? {} : { stopReason: state.stopReason }),
    ...(state.runId === null ? {} : { runId: state.runId }),
    ...(agentId === undefined ? {} : { agentId })
  })
}

const describeFailure = (failure: unknown): string =>
  typeof failure === "object" && failure !== null && "message" in failure && typeof failure.message === "string"
    ? `the turn failed: ${failure.message}`
    : "the turn failed"

/** One of Letta's messages: the state updated, its events (if any) pushed to `out`. */
const step = (state: State, input: LettaSchema.LettaMessage, out: Out): void => {
  if (state.runId === null && "run_id" in input && typeof input.run_id === "string" && input.run_id !== "") {
    state.runId = input.run_id
  }
  switch (input.message_type) {
    case "tool_call_message":
    case "approval_request_message":
      return addCallFragments(state, input)
    case "ping":
    case "user_message":
    case "system_message":
    case "approval_response_message":
    case "error_message":
      return
    default:
      break
  }
  // anything else completes the calls before it
  flush(state, out)
  switch (input.message_type) {
    case "reasoning_message":
      if (input.reasoning !== "") out.push(StreamEvent.reasoning(messageKey(input, input.message_type), input.reasoning))
      return
    case "hidden_reasoning_message":
      out.push(StreamEvent.status("Reasoning (hidden by the model provider)", true))
      return
    case "assistant_message": {
      const text = textOf(input.content)
      if (text === "") return
      state.answered = true
      out.push(StreamEvent.message(messageKey(input, input.message_type), text))
      return
    }
    case "tool_return_message":
      return results(state, input, out)
    case "stop_reason":
      // the turn is over: a call still without its result will not get one
      state.stopReason = input.stop_reason
      return close(state, `stop reason ${input.stop_reason}`, out)
    case "usage_statistics":
      out.push(StreamEvent.usage({
        prompt_tokens: input.prompt_tokens,
        completion_tokens: input.completion_tokens,
        total_tokens: input.total_tokens,
        ...(typeof input.step_count === "number" ? { step_count: input.step_count } : {}),
        ...(typeof input.reasoning_tokens === "number" ? { reasoning_tokens: input.reasoning_tokens } : {}),
        ...(typeof input.cached_input_tokens === "number" ? { cached_input_tokens: input.cached_input_tokens } : {})
      }))
      return
    case "summary_message":
      out.push(StreamEvent.status("Conversation summarised to fit the context window", true))
      return
    default:
      // event_message and message types this version does not know
      return
  }
}

/**
 * `Stream.mapAccum` to any number of outputs per input, in one `StreamStage.stage`: one chunk out per chunk in.
 *
 * @category combinators
 */
export const mapAccumConcat = <S, A, B>(initial: S, step: (state: S, input: A) => readonly [S, Iterable<B>]) =>
<E, R>(self: Stream.Stream<A, E, R>): Stream.Stream<B, E, R> =>
  StreamStage.suspend(() => {
    let state = initial
    return self.pipe(StreamStage.stage<A, B, E, E>({
      onChunk: (chunk) => {
        const out: Array<B> = []
        for (const input of chunk) {
          const [next, outputs] = step(state, input)
          state = next
          for (const output of outputs) out.push(output)
        }
        return { emit: out }
      },
      onFailure: (error) => ({ emit: [], end: { error } }),
      onEnd: () => ({ emit: [], end: true })
    }))
  })

/**
 * Letta's messages of one turn to {@link StreamEvent}s. A successful turn ends with `done`; a turn whose stop reason
 * says the run failed or was cancelled fails with that `LettaError` (`RunFailed`, `Cancelled`; `agentId` from
 * `context`), one without any text or tool call with an `Empty` one; a failure of `messages` passes through. Either way the events that came first stay, and the turn's open
 * statuses and unanswered calls are closed before it ends.
 *
 * @category combinators
 */
export const toEvents = <E, R>(
  messages: Stream.Stream<LettaSchema.LettaMessage, E, R>,
  context: { readonly agentId?: string | undefined } = {}
): Stream.Stream<StreamEvent.StreamEvent, E | LettaError.LettaError, R> =>
  StreamStage.suspend(() => {
    const state = initialState()
    return messages.pipe(StreamStage.stage<LettaSchema.LettaMessage, StreamEvent.StreamEvent, E, E | LettaError.LettaError>({
      onChunk: (chunk) => {
        const out: Out = []
        for (const message of chunk) step(state, message, out)
        return { emit: out }
      },
      // the events that came first stay; the turn's open statuses and calls are closed before it fails
      onFailure: (error) => {
        const out: Out = []
        close(state, describeFailure(error), out)
        return { emit: out, end: { error } }
      },
      onEnd: () => {
        const out: Out = []
        close(state, `stop reason ${state.stopReason ?? "none"}`, out)
        // a turn that failed or gave no answer ends with its error, not with `done`
        const failed = failureOf(state, context.agentId)
        if (failed !== undefined) return { emit: out, end: { error: failed } }
        out.push(StreamEvent.done(state.stopReason, state.runId))
        return { emit: out, end: true }
      }
    }))
  })

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
