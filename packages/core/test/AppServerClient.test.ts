import { FetchHttpClient, Socket } from "@effect/platform"
import { NodeSocket } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Either, Fiber, Layer, Option, Redacted, Schema, Stream } from "effect"
import {
  AppServerClient,
  ChatStream,
  LettaBackend,
  LettaClient,
  LettaConfig,
  LettaError,
  type LettaSchema,
  StreamStage
} from "../src/index.js"
import * as Session from "../src/internal/appServerSession.js"
import { HttpTransport } from "../src/node.js"
import * as Replay from "./utils/appServerReplay.js"
import { certPath, tls } from "./utils/servers.js"

const toolTurn = Replay.recording("ws-frames-tool-turn.jsonl")
const simpleTurn = Replay.recording("ws-frames-simple-turn.jsonl")
const errorTurn = Replay.recording("ws-frames-llm-error.jsonl")

const RecordedInput = Schema.Struct({
  runtime: Schema.Struct({ agent_id: Schema.String, conversation_id: Schema.String }),
  payload: Schema.Struct({
    messages: Schema.NonEmptyArray(Schema.Struct({ content: Schema.NonEmptyArray(Schema.Struct({ text: Schema.String })) }))
  })
})

/** The agent and conversation of a recording's `input`, and its text. */
const inputOf = (frames: typeof toolTurn) => {
  const input = Schema.decodeUnknownSync(RecordedInput)(Replay.command(frames, "input"))
  return { ...input.runtime, text: input.payload.messages[0].content[0].text }
}

const clientOf = (replay: Replay.Replay, token?: string) => {
  const settings = LettaConfig.make({
    baseUrl: replay.url,
    ...(token === undefined ? {} : { apiKey: Option.some(Redacted.make(token)) })
  })
  return Effect.provide(
    LettaClient.LettaClient,
    LettaBackend.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings)), Layer.orDie)
  )
}

const sendTurn = (client: LettaClient.Service, frames: typeof toolTurn) => {
  const { agent_id, conversation_id, text } = inputOf(frames)
  return client.streamConversation(conversation_id, { agent_id, messages: [{ role: "user", content: text }] })
}

/** The recorded deltas of a type. */
const recordedOf = (frames: typeof toolTurn, type: string) =>
  Replay.deltas(frames).filter((delta) => delta.message_type === type)

const textOf = (delta: Record<string, unknown>) =>
  (delta.content as Array<{ text: string }>).map((part) => part.text).join("")

describe("AppServerClient against recorded App Server sessions", () => {
  it.scoped("a tool turn (two runs) is one turn: approval request → tool call, synthetic return → result, one stop", () =>
    Effect.gen(function*() {
      const replay = yield* Replay.replay({ frames: toolTurn })
      const client = yield* clientOf(replay)
      const messages = Chunk.toArray(yield* Stream.runCollect(sendTurn(client, toolTurn)))

      const types = messages.map((m) => m.message_type).filter((type, i, all) => type !== all[i - 1])
      assert.deepStrictEqual(types, [
        "tool_call_message",
        "tool_return_message",
        "reasoning_message",
        "assistant_message",
        "usage_statistics",
        "stop_reason"
      ])
      const [approval] = recordedOf(toolTurn, "approval_request_message")
      const call = messages.find((m) => m.message_type === "tool_call_message")
      assert.deepStrictEqual(call?.message_type === "tool_call_message" ? call.tool_call : undefined, approval?.tool_call)

      // the runs' usages summed, reported once, before the last run's stop reason
      const usages = recordedOf(toolTurn, "usage_statistics")
      const usage = messages.find((m): m is LettaSchema.UsageStatistics => m.message_type === "usage_statistics")
      assert.strictEqual(usages.length, 2)
      assert.strictEqual(usage?.total_tokens, usages.reduce((sum, u) => sum + (u.total_tokens as number), 0))
      assert.strictEqual(usage?.step_count, 2)
      const stops = messages.filter((m) => m.message_type === "stop_reason")
      assert.deepStrictEqual(stops, [{ message_type: "stop_reason", stop_reason: "end_turn", run_id: "local-run-11" }])

      // the command sent: the recorded runtime, the text as a content array, interactive tools excluded
      const input = yield* Replay.nextCommand(replay, "input")
      const recorded = Replay.command(toolTurn, "input")
      assert.deepStrictEqual(input.runtime, recorded.runtime)
      assert.deepStrictEqual(
        (input.payload as { messages: Array<{ content: unknown }> }).messages[0]?.content,
        [{ type: "text", text: inputOf(toolTurn).text }]
      )
      assert.strictEqual((input.payload as { exclude_interactive_tools: boolean }).exclude_interactive_tools, true)
    }))

  it.scoped("content arrays become text events: the assembled turn has the recorded answer, reasoning and tool", () =>
    Effect.gen(function*() {
      const replay = yield* Replay.replay({ frames: toolTurn })
      const client = yield* clientOf(replay)
      const turn = yield* ChatStream.collect(ChatStream.toEvents(sendTurn(client, toolTurn)))

      assert.strictEqual(turn.content, recordedOf(toolTurn, "assistant_message").map(textOf).join(""))
      assert.strictEqual(
        turn.reasoning,
        recordedOf(toolTurn, "reasoning_message").map((delta) => delta.reasoning).join("")
      )
      const [toolReturn] = recordedOf(toolTurn, "tool_return_message")
      assert.deepStrictEqual(turn.toolCalls.map((call) => call.name), ["Read"])
      assert.deepStrictEqual(
        turn.toolResults.map((result) => [result.id, result.name, result.status]),
        [[toolReturn?.tool_call_id, "Read", "success"]]
      )
      assert.include(turn.toolResults[0]?.output, "hello file content")
      assert.strictEqual(turn.stopReason, "end_turn")
      assert.isTrue(Option.isNone(turn.error))
    }))

  it.scoped("a blocking send collects the turn into a LettaResponse", () =>
    Effect.gen(function*() {
      const replay = yield* Replay.replay({ frames: simpleTurn })
      const client = yield* clientOf(replay)
      const { agent_id, conversation_id, text } = inputOf(simpleTurn)
      const response = yield* client.sendConversation(conversation_id, {
        agent_id,
        messages: [{ role: "user", content: text }]
      })
      const [recordedUsage] = recordedOf(simpleTurn, "usage_statistics")
      assert.strictEqual(response.stop_reason.stop_reason, "end_turn")
      assert.strictEqual(response.usage.total_tokens, recordedUsage?.total_tokens)
      assert.deepStrictEqual(
        response.messages.map((m) => m.message_type).filter((type, i, all) => type !== all[i - 1]),
        ["reasoning_message", "assistant_message"]
      )
    }))

  it.scoped("an LLM failure is a LettaError with the App Server's message, not an empty answer", () =>
    Effect.gen(function*() {
      const replay = yield* Replay.replay({ frames: errorTurn })
      const client = yield* clientOf(replay)
      const error = yield* Effect.flip(Stream.runDrain(sendTurn(client, errorTurn)))
      assert.strictEqual(error._tag, "LettaError")
      if (error._tag !== "LettaError") return
      assert.strictEqual(error.reason, "StreamError")
      assert.strictEqual(error.errorType, "local_backend_error")
      assert.strictEqual(error.runId, "local-run-14")
      assert.include(error.detail, "stub forced failure")
    }))

  it.scoped("a conversation the App Server does not know is NotFound for that conversation; an unknown agent is not", () =>
    Effect.gen(function*() {
      const lostTurn = Replay.recording("ws-frames-unknown-conversation.jsonl")
      const lost = yield* Effect.flip(Stream.runDrain(sendTurn(yield* clientOf(yield* Replay.replay({ frames: lostTurn })), lostTurn)))
      assert.isTrue(LettaError.isConversationGone(lost, "local-conv-999999"), String(lost))
      assert.include(lost.message, "Conversation local-conv-999999 not found")
      assert.include(lost.message, "no longer exists in Letta")

      const noAgent = Replay.recording("ws-frames-unknown-agent.jsonl")
      const missing = yield* Effect.flip(Stream.runDrain(sendTurn(yield* clientOf(yield* Replay.replay({ frames: noAgent })), noAgent)))
      assert.isTrue(missing._tag === "LettaError" && missing.reason === "NotFound")
      assert.isFalse(LettaError.isConversationGone(missing, inputOf(noAgent).conversation_id))
      assert.include(missing.message, "check the agent id")
    }))

  it.scoped("interrupting a turn sends abort_message for its runtime", () =>
    Effect.gen(function*() {
      const replay = yield* Replay.replay({
        frames: simpleTurn,
        stopAt: { frame: (frame) => frame.type === "stream_delta" && (frame.delta as { message_type: string }).message_type === "assistant_message", then: "hold" }
      })
      const client = yield* clientOf(replay)
      // the server holds the rest of the turn: taking the reasoning and stopping must abort it
      const first = yield* Stream.runHead(sendTurn(client, simpleTurn))
      assert.strictEqual(Option.getOrThrow(first).message_type, "reasoning_message")
      const abort = yield* Replay.nextCommand(replay, "abort_message")
      assert.deepStrictEqual(abort.runtime, Replay.command(simpleTurn, "input").runtime)
    }))

  it.scoped("stop, then send again: the next turn waits for the aborted one and ends with its own run, never with the old", () =>
    Effect.gen(function*() {
      const frames = Replay.recording("ws-frames-abort-then-queued.jsonl")
      const replay = yield* Replay.replay({ frames })
      const client = yield* clientOf(replay)
      // the first turn, left at its first event as a user pressing Stop leaves it
      const first = yield* Stream.runHead(sendTurn(client, frames))
      assert.strictEqual(Option.getOrThrow(first).message_type, "reasoning_message")
      yield* Replay.nextCommand(replay, "abort_message")
      // the second turn is queued; the aborted turn's turn_finished (cancelled) reaches its socket first
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(ChatStream.toEvents(sendTurn(client, frames))))
      const turn = yield* ChatStream.collect(Stream.fromIterable(events))
      const recorded = Replay.deltas(frames).filter((d) => d.run_id === "local-run-22" && d.message_type === "assistant_message")
      assert.strictEqual(turn.content, recorded.map(textOf).join(""))
      assert.isAbove(turn.content.length, 0)
      assert.strictEqual(turn.stopReason, "end_turn")
      assert.strictEqual(turn.runId, "local-run-22")
    }))

  it.scoped("stopped after a tool returned, the old turn goes on beside the next: none of its runs feeds the next turn", () =>
    Effect.gen(function*() {
      const frames = Replay.recording("ws-frames-abort-turn-goes-on.jsonl")
      const replay = yield* Replay.replay({ frames })
      const client = yield* clientOf(replay)
      // the first turn, left at its tool call as a user pressing Stop leaves it
      const first = yield* Stream.runHead(sendTurn(client, frames))
      assert.strictEqual(Option.getOrThrow(first).message_type, "tool_call_message")
      yield* Replay.nextCommand(replay, "abort_message")
      // the next turn starts at once; the old turn's next runs (75: the tool again, 77: an answer) stream beside it
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(ChatStream.toEvents(sendTurn(client, frames))))
      const turn = yield* ChatStream.collect(Stream.fromIterable(events))
      const own = Replay.deltas(frames).filter((d) => d.run_id === "local-run-76" && d.message_type === "assistant_message")
      const old = Replay.deltas(frames).filter((d) => d.run_id === "local-run-77" && d.message_type === "assistant_message")
      assert.isAbove(old.length, 0, "the recording has the old turn's answer streaming beside the new one")
      assert.strictEqual(turn.content, own.map(textOf).join(""))
      assert.deepStrictEqual(events.filter((event) => event.type === "tool_call" || event.type === "tool_result"), [])
      assert.strictEqual(turn.stopReason, "end_turn")
      assert.strictEqual(turn.runId, "local-run-76")
    }))

  it.scoped("stopped before its run began, the next turn is queued for good unless resumed: the client resumes it", () =>
    Effect.gen(function*() {
      const frames = Replay.recording("ws-frames-early-abort-queue-stuck.jsonl")
      const replay = yield* Replay.replay({ frames })
      const client = yield* clientOf(replay)
      // the first turn is accepted; no delta comes before the user stops it
      const first = yield* Effect.fork(Stream.runDrain(sendTurn(client, frames)))
      yield* Replay.nextCommand(replay, "input")
      yield* Fiber.interrupt(first)
      yield* Replay.nextCommand(replay, "abort_message")
      const second = yield* Effect.fork(Stream.runCollect(ChatStream.toEvents(sendTurn(client, frames))))
      const resume = yield* Replay.nextCommand(replay, "resume_queue")
      assert.deepStrictEqual(resume.runtime, Replay.command(frames, "input").runtime)
      const turn = yield* ChatStream.collect(Stream.fromIterable(Chunk.toReadonlyArray(yield* Fiber.join(second))))
      assert.isAbove(turn.content.length, 0)
      assert.strictEqual(turn.stopReason, "end_turn")
    }))

  it.scoped("a socket closed before turn_finished is an Incomplete turn", () =>
    Effect.gen(function*() {
      const replay = yield* Replay.replay({
        frames: simpleTurn,
        stopAt: { frame: (frame) => frame.type === "turn_finished", then: "close" }
      })
      const client = yield* clientOf(replay)
      const error = yield* Effect.flip(Stream.runDrain(sendTurn(client, simpleTurn)))
      assert.strictEqual(error._tag, "LettaError")
      assert.strictEqual(error._tag === "LettaError" ? error.reason : undefined, "Incomplete")
    }))

  it.scoped("sends the bearer token on the upgrade; a refused token is Unauthorized without the token in it", () =>
    Effect.gen(function*() {
      const replay = yield* Replay.replay({ frames: simpleTurn, token: "app-server-secret" })
      const info = yield* (yield* clientOf(replay, "app-server-secret")).health
      assert.strictEqual(info.version, "0.32.18")
      assert.strictEqual(replay.upgrades[0]?.authorization, "Bearer app-server-secret")

      const refused = yield* Effect.either((yield* clientOf(replay, "wrong-secret")).health)
      assert.isTrue(Either.isLeft(refused))
      if (Either.isRight(refused)) return
      assert.strictEqual(refused.left._tag, "LettaError")
      assert.strictEqual(refused.left._tag === "LettaError" ? refused.left.reason : undefined, "Unauthorized")
      assert.notInclude(JSON.stringify(refused.left) + refused.left.message, "wrong-secret")
    }))

  it.scoped("creates conversations through conversation_create", () =>
    Effect.gen(function*() {
      const replay = yield* Replay.replay({ frames: toolTurn })
      const client = yield* clientOf(replay)
      const { agent_id, conversation_id } = inputOf(toolTurn)
      const conversation = yield* client.createConversation(agent_id)
      assert.strictEqual(conversation.id, conversation_id)
      const sent = yield* Replay.nextCommand(replay, "conversation_create")
      assert.deepStrictEqual(sent.body, { agent_id })
    }))

  it.scoped("what the App Server does not offer fails clearly instead of pretending", () =>
    Effect.gen(function*() {
      const replay = yield* Replay.replay({ frames: simpleTurn })
      const client = yield* clientOf(replay)
      const error = yield* Effect.flip(client.listMessages(inputOf(simpleTurn).agent_id))
      assert.strictEqual(error._tag === "LettaError" ? error.reason : undefined, "InvalidRequest")
      assert.include(error.message, "App Server")
    }))
})

describe("AppServerClient sockets", () => {
  it.scoped("are made by the context's WebSocket constructor, with the bearer token as a { headers } init", () =>
    Effect.gen(function*() {
      const replay = yield* Replay.replay({ frames: simpleTurn, token: "app-server-secret" })
      const made: Array<{ url: string; init: unknown }> = []
      const recording = Layer.effect(
        Socket.WebSocketConstructor,
        Effect.map(Socket.WebSocketConstructor, (construct) => (url: string, init?: string | Array<string>) => {
          made.push({ url, init })
          return construct(url, init)
        })
      ).pipe(Layer.provide(NodeSocket.layerWebSocketConstructor))
      const client = yield* Effect.provide(
        LettaClient.LettaClient,
        LettaBackend.layerSettings(LettaConfig.make({
          baseUrl: replay.url,
          apiKey: Option.some(Redacted.make("app-server-secret"))
        })).pipe(Layer.provide(Layer.merge(recording, FetchHttpClient.layer)), Layer.orDie)
      )
      assert.strictEqual((yield* client.health).version, "0.32.18")
      assert.deepStrictEqual(made, [{ url: AppServerClient.socketUrl(replay.url), init: { headers: { authorization: "Bearer app-server-secret" } } }])
    }))

  it.scopedLive("a consumer that reads slowly holds the App Server back: the socket stops reading, and every frame still arrives", () =>
    Effect.gen(function*() {
      // the simple turn with 512 assistant deltas of 64 KiB after its first one: 32 MiB, sent at once
      const first = simpleTurn.findIndex(({ dir, frame }) =>
        dir === "in" && frame.type === "stream_delta" && (frame.delta as { message_type?: unknown }).message_type === "assistant_message"
      )
      const template = simpleTurn[first]!.frame
      const piece = "x".repeat(64 * 1024)
      const large = Array.from({ length: 512 }, (_, i) => ({
        dir: "in" as const,
        frame: { ...template, delta: { ...(template.delta as object), content: [{ type: "text", text: piece }], seq_id: 1000 + i } }
      }))
      const replay = yield* Replay.replay({ frames: [...simpleTurn.slice(0, first + 1), ...large, ...simpleTurn.slice(first + 1)] })
      const session = yield* Session.make({ url: replay.url, token: Option.none(), timeouts: LettaConfig.defaults.timeouts, retries: 0 })
        .pipe(Effect.provide(NodeSocket.layerWebSocketConstructor))
      const { agent_id, conversation_id, text } = inputOf(simpleTurn)
      const pull = yield* StreamStage.toPull(session.turn({ agent_id, conversation_id }, text))
      const contentOf = (messages: Chunk.Chunk<LettaSchema.LettaMessage>) =>
        Chunk.reduce(messages, 0, (sum, m) =>
          m.message_type !== "assistant_message"
            ? sum
            : sum + (typeof m.content === "string" ? m.content.length : m.content.reduce((n, part) => n + part.text.length, 0)))
      let received = contentOf(yield* pull)
      // nothing read meanwhile: once the server's side settles (the same for half a second), most of the 32 MiB is
      // still waiting there, not in this process
      let last = -1
      let steady = 0
      while (steady < 5) {
        yield* Effect.sleep("100 millis")
        const now = replay.unsent()
        steady = now === last ? steady + 1 : 0
        last = now
      }
      assert.isAbove(last, 16 * 1024 * 1024)
      // reading on, every frame arrives
      for (;;) {
        const next = yield* Effect.either(pull)
        if (Either.isLeft(next)) {
          assert.isTrue(Option.isNone(next.left), "the turn ends without an error")
          break
        }
        received += contentOf(next.right)
      }
      assert.isAtLeast(received, 512 * piece.length)
    }))

  it.scoped("a frame larger than the session's bound fails the turn with a TooLarge DecodeError", () =>
    Effect.gen(function*() {
      const replay = yield* Replay.replay({ frames: simpleTurn })
      const session = yield* Session.make({
        url: replay.url,
        token: Option.none(),
        timeouts: LettaConfig.defaults.timeouts,
        retries: 0,
        maxFrameSize: 64
      }).pipe(Effect.provide(NodeSocket.layerWebSocketConstructor))
      const { agent_id, conversation_id, text } = inputOf(simpleTurn)
      const error = yield* Effect.flip(Stream.runDrain(session.turn({ agent_id, conversation_id }, text)))
      assert.strictEqual(error._tag, "DecodeError")
      assert.strictEqual(error._tag === "DecodeError" ? error.reason : undefined, "TooLarge")
      assert.include(error.message, "more than 64")
    }))
})

describe("AppServerClient over wss:// (TLS)", () => {
  /**
   * `health` over Node's transport with these TLS settings and the bearer token `sent`, against an App Server with a
   * self-signed certificate that accepts only `accepted`.
   */
  const healthWith = (settings: Partial<LettaConfig.Settings["tls"]>, sent = "app-server-secret", accepted = sent) =>
    Effect.gen(function*() {
      const replay = yield* Replay.replay({ frames: simpleTurn, token: accepted, tls })
      assert.isTrue(replay.url.startsWith("wss://"))
      const config = LettaConfig.make({ baseUrl: replay.url, apiKey: Option.some(Redacted.make(sent)), tls: settings })
      return yield* Effect.flatMap(LettaClient.LettaClient, (client) => client.health).pipe(
        Effect.provide(LettaBackend.layerSettings(config).pipe(Layer.provide(HttpTransport.layer(config)), Layer.orDie))
      )
    })

  it.scoped("verification is on: an untrusted certificate fails with the TLS error and its advice, not as unreachable", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(healthWith({}))
      assert.strictEqual(error._tag, "HttpError")
      assert.strictEqual(error._tag === "HttpError" ? error.reason : undefined, "Tls")
      assert.include(error.message, "SELF_SIGNED")
      assert.include(error.message, "LETTA_CA_FILE")
    }))

  it.scoped("LETTA_CA_FILE makes the App Server's certificate trusted, and the bearer token still goes with the upgrade", () =>
    Effect.gen(function*() {
      const trusted = { caFile: Option.some(certPath) }
      assert.strictEqual((yield* healthWith(trusted)).version, "0.32.18")
      // the server checks the token on the upgrade: one it does not accept is refused there
      const refused = yield* Effect.flip(healthWith(trusted, "app-server-secret", "another-secret"))
      assert.strictEqual(refused._tag === "LettaError" ? refused.reason : refused._tag, "Unauthorized")
    }))

  it.scoped("LETTA_TLS_INSECURE=true skips verification for the App Server too", () =>
    Effect.gen(function*() {
      const info = yield* healthWith({ insecure: true })
      assert.strictEqual(info.version, "0.32.18")
    }))
})
