/**
 * Turns as the routes serve them: started in the foreground (an SSE stream), in the background (a run whose frames
 * are buffered and followed) or blocking (one JSON `LettaResponse`); a background run followed again from a cursor.
 *
 * @since 0.1.0
 */
import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Chunk, Context, Duration, Effect, Exit, FiberSet, Layer, Option, Stream } from "effect"
import * as EmulatorConfig from "./EmulatorConfig.js"
import * as Fault from "./Fault.js"
import type * as Requests from "./Requests.js"
import * as RouteError from "./RouteError.js"
import * as Stats from "./Stats.js"
import * as Store from "./Store.js"
import * as Turn from "./Turn.js"
import * as Wire from "./Wire.js"

/** A turn to start. @category models */
export interface Start {
  readonly agent: Store.Agent
  /** The thread it reads and extends (`Store.agentThread` or `Store.conversationThread`). */
  readonly thread: string
  readonly conversationId: string | null
  readonly request: Requests.TurnRequest
  /** Streamed (SSE), else answered as one JSON `LettaResponse`. */
  readonly stream: boolean
}

/** @category models */
export interface Service {
  /** Starts a turn; `status` faults named in its message and a failed blocking turn are errors. */
  readonly start: (
    turn: Start
  ) => Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    RouteError.Refused | RouteError.EmulatedFailure | RouteError.LlmFailure,
    HttpServerRequest.HttpServerRequest
  >
  /** Starts a turn as a background run (`/messages/async`), and gives the run at once. */
  readonly startAsync: (agent: Store.Agent, content: Turn.Input["content"]) => Effect.Effect<Store.Run>
  /** Streams a background run's frames after `startingAfter`, polling every `pollInterval` until the run is over. */
  readonly follow: (
    runId: string,
    startingAfter: number,
    pollInterval: Duration.Duration
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>
}

/** @category services */
export class TurnRunner extends Context.Tag("@letta-pipeline/emulator/TurnRunner")<TurnRunner, Service>() {}

const isOver = (run: Store.Run) => run.status !== "created" && run.status !== "running"

/** Serves a turn's items as SSE; a `Reset` item tears the socket down. Counted in the stats. */
const sse = (stats: Stats.Service, items: Stream.Stream<Turn.Item>, message: string) =>
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
          return resetAfterWritten(request)
        }),
        Stream.encodeText
      )
    return HttpServerResponse.stream(bytes, {
      contentType: "text/event-stream; charset=utf-8",
      headers: { "cache-control": "no-cache" }
    })
  })

/** Resets the connection once what was written before has left, so that the client sees the first events. */
const resetAfterWritten = (request: HttpServerRequest.HttpServerRequest) => {
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
}

/** A background run's buffered frames after `startingAfter`, polled until the run is over. */
const frames = (store: Store.Service, runId: string, startingAfter: number, pollInterval: Duration.Duration) =>
  Stream.paginateChunkEffect(startingAfter, (cursor) =>
    Effect.gen(function*() {
      const record = yield* store.run(runId)
      if (Option.isNone(record)) return [Chunk.empty<Turn.Item>(), Option.none<number>()] as const
      const fresh = Chunk.drop(record.value.frames, cursor)
      const over = isOver(record.value.run)
      if (Chunk.isEmpty(fresh) && !over) yield* Effect.sleep(pollInterval)
      const items = Chunk.map(fresh, (text): Turn.Item => ({ _tag: "Frame", text }))
      const next = over && Chunk.isEmpty(fresh) ? Option.none<number>() : Option.some(cursor + Chunk.size(fresh))
      return [items, next] as const
    }))

/** A blocking turn: its messages, stop reason and usage as one `LettaResponse`, or Letta's 500 if the LLM failed. */
const answer = Effect.fnUntraced(function*(store: Store.Service, items: Stream.Stream<Turn.Item>, runId: string) {
  const all = Chunk.toReadonlyArray(yield* Stream.runCollect(items))
  if (all.some((item) => item._tag === "Frame" && item.text.startsWith("event: error"))) {
    return yield* new RouteError.LlmFailure()
  }
  const messages = Option.match(yield* store.run(runId), {
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
})

/** The user message a turn answers: the last user one (else the last one); Letta's 422 when there is none. */
const lastMessage = (request: Requests.TurnRequest) => {
  const incoming = request.messages ??
    (request.input === undefined ? [] : [{ role: "user" as const, content: request.input }])
  const last = incoming.findLast((m) => m.role === "user") ?? incoming.at(-1)
  return last === undefined
    ? Effect.fail(new RouteError.Refused({ status: 422, detail: "Messages must not be empty" }))
    : Effect.succeed(last)
}

/** @category constructors */
export const make = Effect.gen(function*() {
  const store = yield* Store.Store
  const stats = yield* Stats.Stats
  const settings = yield* EmulatorConfig.EmulatorConfig
  const background = yield* FiberSet.make()
  const run = (input: Turn.Input, record: Store.RunRecord) =>
    Turn.run(input, record).pipe(
      Stream.provideService(Store.Store, store),
      Stream.provideService(EmulatorConfig.EmulatorConfig, settings)
    )

  /** Runs `items` in the background, buffering their frames in the run for followers. */
  const buffer = (runId: string, items: Stream.Stream<Turn.Item>) =>
    FiberSet.run(background, Stream.runForEach(items, (item) =>
      item._tag === "Reset" ? Effect.void : store.appendFrame(runId, (seq) => Turn.encode(item, seq))))

  const start = Effect.fnUntraced(function*(turn: Start) {
    const { request } = turn
    const last = yield* lastMessage(request)
    const said = Turn.textOf(last.content)
    const http = yield* HttpServerRequest.HttpServerRequest
    const fault = Fault.choose(http.headers["x-emulator-fault"], said, settings.fault)
    if (Option.isSome(fault) && fault.value.kind === "status") {
      return yield* new RouteError.EmulatedFailure({ status: fault.value.status })
    }
    if (Option.isSome(fault) && fault.value.kind === "slow-first-byte") yield* Effect.sleep(settings.firstByteDelay)
    const isBackground = request.background === true
    const record = yield* store.createRun(turn.agent.id, turn.conversationId, isBackground)
    const items = run({
      agent: turn.agent,
      thread: turn.thread,
      content: last.content,
      tokens: turn.stream && request.stream_tokens === true,
      includePings: turn.stream && request.include_pings !== false,
      fault: turn.stream ? fault : Option.filter(fault, (f) => f.kind === "llm-error")
    }, record)
    if (!turn.stream) return yield* answer(store, items, record.run.id)
    if (!isBackground) return yield* sse(stats, items, said)
    yield* buffer(record.run.id, items)
    return yield* sse(stats, frames(store, record.run.id, 0, Duration.millis(100)), said)
  })

  return TurnRunner.of({
    start,
    startAsync: (agent, content) =>
      Effect.gen(function*() {
        const record = yield* store.createRun(agent.id, null, true)
        const thread = Store.agentThread(agent.id)
        const input: Turn.Input = { agent, thread, content, tokens: false, includePings: false, fault: Option.none() }
        yield* buffer(record.run.id, run(input, record))
        return record.run
      }),
    follow: (runId, startingAfter, pollInterval) =>
      sse(stats, frames(store, runId, startingAfter, pollInterval), `resume ${runId}`)
  })
})

/** @category layers */
export const layer: Layer.Layer<TurnRunner, never, Store.Store | Stats.Stats | EmulatorConfig.EmulatorConfig> = Layer
  .scoped(TurnRunner, make)
