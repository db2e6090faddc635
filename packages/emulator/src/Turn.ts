/**
 * One agent turn as Letta streams it: the initial ping with the run id, each LLM response (step or token mode) with
 * its pauses, tool returns, the stop reason, usage and `[DONE]`; history and the run recorded as it goes; faults
 * injected where they hurt; keepalive pings while quiet; cancellation honoured.
 *
 * @since 0.1.0
 */
import { LettaSchema } from "@letta-pipeline/core"
import { Deferred, Duration, Effect, Fiber, Option, Queue, Stream, Take } from "effect"
import * as EmulatorConfig from "./EmulatorConfig.js"
import type * as Fault from "./Fault.js"
import * as Script from "./Script.js"
import * as Store from "./Store.js"
import * as Wire from "./Wire.js"

/** What a turn emits. @category models */
export type Item =
  /** A Letta message, written as `data: <json>`. */
  | { readonly _tag: "Message"; readonly message: LettaSchema.LettaMessage }
  /** SSE text written as is (errors, `[DONE]`, broken frames). */
  | { readonly _tag: "Frame"; readonly text: string }
  /** Tear the connection down. */
  | { readonly _tag: "Reset" }

/** @category models */
export interface Input {
  readonly agent: Store.Agent
  readonly thread: string
  /** The user's message as sent (string or content parts). */
  readonly content: LettaSchema.MessageCreate["content"]
  readonly tokens: boolean
  readonly includePings: boolean
  readonly fault: Option.Option<Fault.Fault>
}

const message = (m: LettaSchema.LettaMessage): Item => ({ _tag: "Message", message: m })
const frame = (text: string): Item => ({ _tag: "Frame", text })

/** The text of a user turn, for the script. @category constructors */
export const textOf = (content: LettaSchema.MessageCreate["content"]): string =>
  typeof content === "string"
    ? content
    : content.flatMap((part) => (part.type === "image" ? ["[image]"] : [part.text])).join(" ")

const earlierUserTexts = (history: Iterable<LettaSchema.LettaMessage>): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (const m of history) {
    if (m.message_type === "user_message") out.push(typeof m.content === "string" ? m.content : textOf(m.content))
  }
  return out
}

const faultIs = (fault: Option.Option<Fault.Fault>, kind: Fault.Fault["kind"]) =>
  Option.isSome(fault) && fault.value.kind === kind

/**
 * Runs a turn for a run that was already created.
 *
 * @category constructors
 */
export const run = (
  input: Input,
  record: Store.RunRecord
): Stream.Stream<Item, never, Store.Store | EmulatorConfig.EmulatorConfig> =>
  Stream.unwrap(Effect.gen(function*() {
    const store = yield* Store.Store
    const settings = yield* EmulatorConfig.EmulatorConfig
    const runId = record.run.id
    const history = yield* store.thread(input.thread)
    const userText = textOf(input.content)
    const callId = `call_${(yield* Wire.id("step")).slice(-24).replace(/-/g, "")}`
    const huge = faultIs(input.fault, "huge-output")
    // the memory as it is now, not as it was when the request found the agent (another turn may have written it)
    const current = yield* store.agent(input.agent.id)
    const human = Option.match(current, {
      onNone: () => "",
      onSome: (agent) => agent.memory.blocks.find((b) => b.label === "human")?.value ?? ""
    })
    const planned = Script.plan(
      {
        text: huge ? `${userText} [[tool]]` : userText,
        agentName: input.agent.name,
        earlier: earlierUserTexts(history),
        human
      },
      callId
    )
    const steps = huge ? planned.map(Script.huge) : planned
    // one frame per message, whatever the request asked, so that each huge text is one frame
    const mode = { tokens: input.tokens && !huge, size: settings.tokenSize }
    const stopFault = Option.flatMap(input.fault, (f) => (f.kind === "stop" ? Option.some(f.stopReason) : Option.none()))
    const pause = (duration: Duration.Duration) =>
      Duration.toMillis(duration) > 0 ? Effect.sleep(duration) : Effect.void

    yield* store.record(runId, input.thread, [
      Script.userMessage({ messageId: yield* Wire.id("message"), runId, date: yield* Wire.now }, userText)
    ])
    yield* store.updateRun(runId, (r) => ({ ...r, status: "running" }))

    const finish = (status: LettaSchema.RunStatus, stopReason: string) =>
      Effect.flatMap(Wire.now, (date) =>
        store.updateRun(runId, (r) => ({ ...r, status, stop_reason: stopReason, completed_at: date })))

    const response = Effect.gen(function*() {
      return {
        messageId: yield* Wire.id("message"),
        stepId: yield* Wire.id("step"),
        runId,
        date: yield* Wire.now
      } satisfies Script.Response
    })

    const ping = Effect.gen(function*() {
      const m: LettaSchema.LettaMessage = {
        id: yield* Wire.id("ping"),
        date: yield* Wire.now,
        name: null,
        message_type: "ping",
        otid: null,
        sender_id: null,
        step_id: null,
        is_err: null,
        seq_id: null,
        run_id: runId
      }
      return m
    })

    const paced = (items: ReadonlyArray<Item>) =>
      Stream.fromIterable(items).pipe(Stream.tap(() => pause(settings.tokenDelay)))

    /** One LLM response, then its tool's return; recorded in history once complete. */
    const step = (s: Script.Step, index: number): Stream.Stream<Item> =>
      Stream.unwrap(Effect.gen(function*() {
        yield* pause(settings.stepDelay)
        const ids = yield* response
        const streamed = Script.streamedMessages(ids, s, mode).map(message)
        const afterReasoning = streamed.findIndex((item) =>
          item._tag === "Message" && item.message.message_type !== "reasoning_message"
        )
        const cut = afterReasoning === -1 ? streamed.length : afterReasoning
        if (index === 0 && faultIs(input.fault, "reset")) {
          yield* finish("failed", "error")
          return Stream.concat(paced(streamed.slice(0, cut)), Stream.succeed<Item>({ _tag: "Reset" }))
        }
        if (index === 0 && faultIs(input.fault, "llm-error")) {
          return paced(streamed.slice(0, cut)).pipe(Stream.concat(llmErrorTail))
        }
        if (index === 0 && Option.isSome(stopFault)) {
          // the whole first response, then the turn stops: a tool call in it never gets its return
          return paced(streamed).pipe(Stream.concat(stopTail(stopFault.value)))
        }
        const recorded = Stream.fromEffect(store.record(runId, input.thread, Script.stepMessages(ids, s))).pipe(
          Stream.drain
        )
        const tool = s.tool
        const toolReturn: Stream.Stream<Item> = tool === undefined ? Stream.empty : Stream.unwrap(Effect.gen(function*() {
          const returned = Script.toolReturn(yield* response, tool)
          if (tool.append !== undefined) yield* store.appendMemory(input.agent.id, tool.append.label, tool.append.content)
          yield* store.record(runId, input.thread, [returned])
          return Stream.succeed(message(returned))
        }))
        return Stream.concat(paced(streamed), Stream.concat(recorded, toolReturn))
      }))

    const llmErrorTail: Stream.Stream<Item> = Stream.unwrap(Effect.gen(function*() {
      yield* finish("failed", "llm_api_error")
      return Stream.make(
        message({ message_type: "stop_reason", stop_reason: "llm_api_error" }),
        frame(Wire.errorFrame(Wire.json({
          message_type: "error_message",
          run_id: runId,
          error_type: "llm_error",
          message: "An error occurred with the LLM request.",
          detail: "Emulated LLM failure (fault llm-error)",
          seq_id: null
        }))),
        frame(Wire.doneFrame)
      )
    }))

    /** Letta's success tail with another stop reason, and no error event (the run's status by Letta's rule). */
    const stopTail = (stopReason: string): Stream.Stream<Item> =>
      Stream.unwrap(Effect.gen(function*() {
        yield* finish(LettaSchema.runStatusOf(stopReason), stopReason)
        return Stream.make(
          message({ message_type: "stop_reason", stop_reason: stopReason }),
          message(Script.usage(steps.slice(0, 1), history.length, settings.tokenSize)),
          frame(Wire.doneFrame)
        )
      }))

    const ending: Stream.Stream<Item> = Stream.unwrap(Effect.gen(function*() {
      yield* finish("completed", "end_turn")
      return Stream.make(
        message({ message_type: "stop_reason", stop_reason: "end_turn" }),
        message(Script.usage(steps, history.length, settings.tokenSize)),
        ...(faultIs(input.fault, "no-done") ? [] : [frame(Wire.doneFrame)])
      )
    }))

    const stalled = faultIs(input.fault, "stall")
    const injected: Stream.Stream<Item> = faultIs(input.fault, "odd-frames")
      ? Stream.fromEffect(Effect.map(response, (ids) => Script.oddFrames(ids).map(frame))).pipe(Stream.flattenIterables)
      : faultIs(input.fault, "malformed")
      ? Stream.make(frame(Wire.dataFrame("{\"message_type\": \"assistant_message\", \"content\": \"cut off")))
      : faultIs(input.fault, "unknown-type")
      ? Stream.fromEffect(Effect.map(response, (ids) =>
        frame(Wire.dataFrame(Wire.json({
          id: ids.messageId,
          date: ids.date,
          message_type: "emulator_trace_message",
          trace: "a message type no client knows"
        })))
      ))
      : stalled
      ? Stream.fromEffect(pause(settings.stall)).pipe(Stream.drain)
      : Stream.empty

    const failedEarly = faultIs(input.fault, "reset") || faultIs(input.fault, "llm-error") || Option.isSome(stopFault)
    const body = Stream.concat(
      Stream.fromIterable(Option.isSome(stopFault) ? steps.slice(0, 1) : steps).pipe(
        Stream.zipWithIndex,
        Stream.flatMap(([s, i]) => step(s, i))
      ),
      failedEarly ? Stream.empty : ending
    )

    // a turn torn down early (client gone) must not leave its run "running"; like Letta's, its cancellation takes a
    // moment (`windDown`), during which its conversation is busy
    const settle = Effect.flatMap(store.run(runId), (current) =>
      Option.isSome(current) && (current.value.run.status === "created" || current.value.run.status === "running")
        ? Duration.toMillis(settings.windDown) <= 0
          ? finish("cancelled", "cancelled")
          : Effect.asVoid(Effect.forkDaemon(Effect.delay(finish("cancelled", "cancelled"), settings.windDown)))
        : Effect.void)

    // The script, keepalive pings and a cancel all write into one queue that the response reads: merging streams or
    // `interruptWhen` would race a fiber per item, most of the emulator's CPU time at token rates.
    const turn = Stream.unwrapScoped(Effect.gen(function*() {
      const queue = yield* Queue.bounded<Take.Take<Item>>(16)
      let over = false
      const script = yield* Stream.runForEachChunk(Stream.concat(injected, body), (chunk) => Queue.offer(queue, Take.chunk(chunk))).pipe(
        Effect.zipRight(Effect.suspend(() => {
          over = true
          return Queue.offer(queue, Take.end)
        })),
        Effect.forkScoped
      )
      yield* Deferred.await(record.cancel).pipe(
        Effect.zipRight(Effect.suspend(() => over ? Effect.void : Effect.gen(function*() {
          yield* Fiber.interrupt(script)
          yield* finish("cancelled", "cancelled")
          yield* Queue.offerAll(queue, [Take.of(frame(Wire.cancelledStopFrame)), Take.end])
        }))),
        Effect.forkScoped
      )
      if (input.includePings && !stalled) {
        yield* Effect.sleep(settings.keepalive).pipe(
          Effect.zipRight(Effect.flatMap(ping, (m) => Queue.offer(queue, Take.of(message(m))))),
          Effect.forever,
          Effect.forkScoped
        )
      }
      return Stream.flattenTake(Stream.fromQueue(queue))
    }))

    const first = input.includePings ? Stream.fromEffect(Effect.map(ping, message)) : Stream.empty
    return Stream.concat(first, turn).pipe(Stream.ensuring(settle))
  }))

/** A message item as SSE text; background runs also get their sequence number. @category encoding */
export const encode = (item: Exclude<Item, { readonly _tag: "Reset" }>, seq?: number): string => {
  if (item._tag === "Frame") return item.text
  const m = item.message
  const numbered = seq !== undefined && "seq_id" in m && m.seq_id === null ? { ...m, seq_id: seq } : m
  return Wire.dataFrame(Wire.messageJson(numbered))
}
