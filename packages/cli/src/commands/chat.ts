/**
 * `letta-pipeline chat [MESSAGE]`: one turn streamed to the terminal; piped stdin is the message; without either, on a
 * terminal, an interactive session (line editing and history, Ctrl-C stops the current turn, `/exit` leaves).
 *
 * stdout carries the answer (and tool lines); reasoning is dimmed inline on a terminal, on stderr otherwise; the
 * spinner and usage go to stderr. `--json` writes one StreamEvent per line and nothing else to stdout.
 */
import { Args, Command, Options } from "@effect/cli"
import { NodeStream } from "@effect/platform-node"
import { ChatStream, Pipeline, type PipeRequest, StreamEvent } from "@letta-pipeline/core"
import { HttpTransport } from "@letta-pipeline/core/node"
import { Deferred, Effect, Exit, Fiber, Layer, Logger, LogLevel, Option, Ref, Schedule, Schema, Stream } from "effect"
import * as readline from "node:readline"
import * as Display from "../Display.js"
import * as Connection from "./connection.js"
import * as Users from "./users.js"

const message = Args.text({ name: "message" }).pipe(Args.withDescription("What to say (default: stdin, or an interactive session)"), Args.optional)

const options = {
  message,
  ...Connection.flags,
  conversation: Options.text("conversation").pipe(Options.withDescription("Letta conversation to continue"), Options.optional),
  json: Options.boolean("json").pipe(Options.withDescription("One StreamEvent per line (NDJSON) on stdout, nothing else")),
  noReasoning: Options.boolean("no-reasoning").pipe(Options.withDescription("Hide the agent's reasoning")),
  usage: Options.boolean("usage").pipe(Options.withDescription("Print token usage at the end (stderr)")),
  user: Options.text("user").pipe(
    Options.withDescription(
      "Who is talking: with a per-user model (PIPELINE_USER_MODE, PIPELINE_PER_USER_MODELS), the turn goes to this " +
        "user's own agent, made from the model's on first use; a shared model ignores it"
    ),
    Options.optional
  )
}

type ChatOptions = {
  readonly json: boolean
  readonly noReasoning: boolean
  readonly usage: boolean
  readonly conversation: Option.Option<string>
}

const encodeEvent = Schema.encodeSync(StreamEvent.StreamEventJson)

type Last = "none" | "reasoning" | "message" | "tool"

/** Prints events as they come; returns the printer. */
const makePrinter = (display: Display.Display, opts: ChatOptions) =>
  Effect.gen(function*() {
    const last = yield* Ref.make<Last>("none")
    // consecutive reasoning messages, and answers, are separated as `ChatStream.collect` separates them
    const lastIds = yield* Ref.make<{ readonly reasoning: string | null; readonly message: string | null }>({
      reasoning: null,
      message: null
    })
    const delta = (kind: "reasoning" | "message", id: string, content: string) =>
      Ref.modify(lastIds, (ids) => [ChatStream.separated(ids[kind], id, content), { ...ids, [kind]: id }])
    const usage = yield* Ref.make(Option.none<StreamEvent.Of<"usage">["data"]>())
    const reasoningInline = display.stdoutTty
    const print = (event: StreamEvent.StreamEvent): Effect.Effect<void> =>
      Effect.flatMap(Ref.get(last), (previous) => {
        const breakAfter = (kinds: ReadonlyArray<Last>) => (kinds.includes(previous) ? "\n" : "")
        // reasoning on stderr ends its line before anything else is printed: both often share one terminal
        const closeReasoning = previous === "reasoning" && !reasoningInline ? Display.stderr("\n") : Effect.void
        switch (event.type) {
          case "reasoning":
            if (opts.noReasoning) return Effect.void
            return Effect.flatMap(delta("reasoning", event.data.id, event.data.content), (text) =>
              Effect.zipRight(
                reasoningInline
                  ? Display.stdout(breakAfter(["message", "tool"]) + Display.dim(display, text))
                  // a block closed by another event already ended its line: one blank line between blocks
                  : Display.stderr(previous !== "reasoning" && text.startsWith("\n\n") ? text.slice(1) : text),
                Ref.set(last, "reasoning")
              ))
          case "message":
            return Effect.flatMap(delta("message", event.data.id, event.data.content), (text) =>
              Effect.zipRight(
                Effect.zipRight(closeReasoning, Display.stdout(breakAfter(reasoningInline && !opts.noReasoning ? ["reasoning"] : []) + text)),
                Ref.set(last, "message")
              ))
          case "tool_call":
            return Effect.zipRight(
              Effect.zipRight(closeReasoning, Display.stdout(
                breakAfter(["message", ...(reasoningInline ? (["reasoning"] as const) : [])]) +
                  Display.dim(display, `→ ${event.data.name} ${Display.oneLine(event.data.arguments)}`) + "\n"
              )),
              Ref.set(last, "tool")
            )
          case "tool_result":
            return Effect.zipRight(
              Display.stdout(
                Display.dim(
                  display,
                  // a call that never ran says so in its output
                  `← ${event.data.status === "not_run" ? "" : `${event.data.status}: `}${Display.oneLine(event.data.output)}`
                ) + "\n"
              ),
              Ref.set(last, "tool")
            )
          case "title":
            return Display.stdout(`${event.data.title}\n`)
          case "usage":
            return Ref.set(usage, Option.some(event.data))
          case "done":
            return Effect.zipRight(
              Effect.zipRight(
                previous === "tool" ? Effect.void : Display.stdout("\n"),
                closeReasoning
              ),
              opts.usage
                ? Effect.flatMap(Ref.get(usage), Option.match({
                  onNone: () => Display.stderr("usage: not reported\n"),
                  onSome: (u) =>
                    Display.stderr(
                      `usage: ${u.prompt_tokens} prompt + ${u.completion_tokens} completion = ${u.total_tokens} tokens` +
                        (u.step_count === undefined ? "" : `, ${u.step_count} steps`) + "\n"
                    )
                }))
                : Effect.void
            )
          case "status":
          case "error":
            return Effect.void
        }
      })
    return print
  })

const spinnerFrames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

/** A spinner on stderr until the first event; only on a terminal with colours. */
const withSpinner = (display: Display.Display) =>
<E>(events: Stream.Stream<StreamEvent.StreamEvent, E>): Stream.Stream<StreamEvent.StreamEvent, E> => {
  if (!display.stderrTty || !display.color) return events
  return Stream.unwrapScoped(Effect.gen(function*() {
    const frame = yield* Ref.make(0)
    const spinner = yield* Effect.forkScoped(
      Effect.flatMap(Ref.getAndUpdate(frame, (n) => n + 1), (n) =>
        Display.stderr(`\r${spinnerFrames[n % spinnerFrames.length]} thinking…`)).pipe(
          Effect.repeat(Schedule.spaced("80 millis"))
        )
    )
    const stop = Effect.zipRight(Fiber.interrupt(spinner), Display.stderr("\r\x1b[K"))
    const stopped = yield* Ref.make(false)
    const stopOnce = Effect.flatMap(Ref.getAndSet(stopped, true), (done) => (done ? Effect.void : stop))
    return events.pipe(Stream.tap(() => stopOnce), Stream.ensuring(stopOnce))
  }))
}

/** One turn, printed; fails like the pipeline. */
const runTurn = (pipeline: Pipeline.Service, request: PipeRequest.PipeRequest, display: Display.Display, opts: ChatOptions) =>
  Effect.gen(function*() {
    const events = pipeline.pipe(request)
    if (opts.json) {
      return yield* events.pipe(
        Stream.tapError((error) => Display.stdout(`${encodeEvent(StreamEvent.fromError(error))}\n`)),
        Stream.runForEach((event) => Display.stdout(`${encodeEvent(event)}\n`))
      )
    }
    const print = yield* makePrinter(display, opts)
    return yield* events.pipe(withSpinner(display), Stream.runForEach(print))
  })

const turnRequest = (text: string, agent: Option.Option<string>, opts: ChatOptions): PipeRequest.PipeRequest => ({
  model: Option.getOrUndefined(agent),
  messages: [{ role: "user", content: text }],
  // a chat from the terminal is a real turn, never an Open WebUI task
  body: { stream: true },
  conversationId: Option.getOrUndefined(opts.conversation)
})

const readStdin = NodeStream.fromReadable<Error, Uint8Array>(() => process.stdin, (cause) => new Error(String(cause))).pipe(
  Stream.decodeText(),
  Stream.mkString
)

/** The interactive session: a prompt with line editing and history, Ctrl-C stops the running turn. */
const session = (pipeline: Pipeline.Service, agent: Option.Option<string>, display: Display.Display, opts: ChatOptions) =>
  Effect.gen(function*() {
    const rl = yield* Effect.acquireRelease(
      Effect.sync(() => readline.createInterface({ input: process.stdin, output: process.stdout, historySize: 1000, terminal: true })),
      (rl) => Effect.sync(() => rl.close())
    )
    const closed = yield* Deferred.make<void>()
    rl.on("close", () => Deferred.unsafeDone(closed, Exit.void))
    // readline reports Ctrl-C through this callback; it stops the running turn, if any
    let stopTurn: Deferred.Deferred<void> | undefined
    rl.on("SIGINT", () => {
      if (stopTurn !== undefined) Deferred.unsafeDone(stopTurn, Exit.void)
      else {
        rl.write(null, { ctrl: true, name: "u" })
        process.stdout.write("\n(type /exit or press Ctrl-D to leave)\n")
        rl.prompt()
      }
    })
    yield* Display.stdout(Display.dim(display, "Chatting with Letta. /exit leaves, Ctrl-C stops a turn.\n"))
    const ask = Effect.raceFirst(
      Effect.async<Option.Option<string>>((resume) => {
        rl.question("› ", (answer) => resume(Effect.succeed(Option.some(answer))))
      }),
      Effect.as(Deferred.await(closed), Option.none<string>())
    )
    for (;;) {
      const line = yield* ask
      if (Option.isNone(line) || line.value.trim() === "/exit") return
      if (line.value.trim() === "") continue
      const stop = yield* Deferred.make<void>()
      stopTurn = stop
      const outcome = yield* Effect.raceFirst(
        Effect.either(runTurn(pipeline, turnRequest(line.value, agent, opts), display, opts)),
        Effect.as(Deferred.await(stop), undefined)
      )
      stopTurn = undefined
      if (outcome === undefined) yield* Display.stdout(Display.dim(display, "\n(stopped)\n"))
      else if (outcome._tag === "Left") yield* Display.stderr(`${outcome.left.message}\n`)
    }
  })

export const chat = Command.make("chat", options, (given) =>
  Effect.gen(function*() {
    const { embedded, settings } = yield* Connection.connect(given)
    const display = yield* Display.detect
    const opts: ChatOptions = given
    return yield* Effect.gen(function*() {
      const pipeline = yield* Pipeline.Pipeline
      // a per-user model answers through the user's own agent, as on the server
      const named = (yield* Connection.settings(given)).agentId
      const agent = yield* Option.match(settings.agentId, {
        onNone: () => Effect.succeedNone,
        onSome: (id) => Effect.asSome(Users.answering(Option.getOrElse(named, () => id), id, given.user, embedded))
      })
      const text = Option.isSome(given.message)
        ? given.message.value
        : process.stdin.isTTY === true
        ? undefined
        : yield* Effect.orDie(readStdin)
      if (text === undefined) return yield* session(pipeline, agent, display, opts)
      return yield* runTurn(pipeline, turnRequest(text, agent, opts), display, opts)
    }).pipe(Effect.provide(Pipeline.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings)))))
  }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))).pipe(Command.withDescription("Talk to an agent: one message, piped stdin, or an interactive session"))
