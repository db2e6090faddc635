/**
 * Stop, then send again at once: what a chat user does most after a wrong start. Against both backends behind the
 * server as its own process (the emulator, whose stopped runs wind down for a moment as Letta's do, and the real Letta
 * App Server over a paced stub LLM): 20 times in a row a turn is left at a random point (before its first token,
 * mid-text, mid-tool-call; the first round, on a fresh chat, before its first token, while its conversation is being
 * created) and the next one is sent at once, through the OpenAI stream (the client closes the connection) and through
 * the WebSocket (`{"type":"cancel"}`); in the interactive CLI, Ctrl-C in a real terminal. Every next turn answers with
 * its own content, none is empty, none hangs (each is bounded); the suite prints how long they took.
 */
import { Socket } from "@effect/platform"
import { NodeContext, NodeHttpClient, NodeSocket } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Emulator, StubLlm } from "@letta-pipeline/emulator"
import { Console, Deferred, Duration, Effect, Layer, Queue } from "effect"
import { mkdtempSync } from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import { join } from "node:path"
import { prepare, startAppServer } from "./utils/appServer.js"
import { main, startAndWait } from "./utils/cli.js"
import { count, terminal } from "./utils/tmux.js"

const rounds = 20
const token = "stop-then-send-token"
const home = mkdtempSync(join(os.tmpdir(), "letta-stop-then-send-"))
const { file } = prepare(home)

type Point = "before the first token" | "mid-text" | "mid-tool-call"
const points: ReadonlyArray<Point> = ["before the first token", "mid-text", "mid-tool-call"]

/** A seeded generator (mulberry32), so that a failing sequence can be replayed. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface Backend {
  readonly name: string
  readonly url: string
  readonly model: string
  /** The text a turn with this message must answer (its own content). */
  readonly answerTo: (message: string) => string
  /** A message that makes the agent call a tool. */
  readonly toolMessage: (round: number) => string
}

const sseData = (text: string): ReadonlyArray<Record<string, unknown>> =>
  text.split("\n").filter((line) => line.startsWith("data: ") && line !== "data: [DONE]").map((line) =>
    JSON.parse(line.slice(6)) as Record<string, unknown>
  )

const contentOf = (chunk: Record<string, unknown>): string => {
  const choices = chunk.choices as ReadonlyArray<{ delta?: { content?: string } }> | undefined
  return choices?.[0]?.delta?.content ?? ""
}

const isStatus = (chunk: Record<string, unknown>, prefix: string) => {
  const event = chunk.event as { type?: string; data?: { description?: string } } | undefined
  return event?.type === "status" && (event.data?.description ?? "").startsWith(prefix)
}

/** One streamed turn over HTTP; `leave` decides, chunk by chunk, when the client goes away. */
const streamTurn = (
  backend: Backend,
  chat: string,
  content: string,
  leave: (seen: ReadonlyArray<Record<string, unknown>>) => boolean
) =>
  Effect.async<{ readonly text: string; readonly left: boolean }, Error>((resume) => {
    let text = ""
    let left = false
    const request = http.request(`${backend.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-openwebui-chat-id": chat }
    }, (response) => {
      if (leave([])) {
        left = true
        request.destroy()
        return resume(Effect.succeed({ text, left }))
      }
      response.on("data", (part: Buffer) => {
        if (left) return
        text += part.toString("utf8")
        if (leave(sseData(text.slice(0, text.lastIndexOf("\n\n") + 1)))) {
          left = true
          request.destroy()
          resume(Effect.succeed({ text, left }))
        }
      })
      response.on("end", () => resume(Effect.succeed({ text, left })))
      response.on("error", (error) => left ? undefined : resume(Effect.fail(error)))
    })
    request.on("error", (error) => left ? undefined : resume(Effect.fail(error)))
    request.end(JSON.stringify({ model: backend.model, stream: true, messages: [{ role: "user", content }] }))
  })

/** When a client at `point` leaves, given the chunks so far. */
const leaveAt = (point: Point, extra: number) => (seen: ReadonlyArray<Record<string, unknown>>) => {
  switch (point) {
    case "before the first token":
      return true
    case "mid-text":
      return seen.filter((chunk) => contentOf(chunk) !== "").length > extra
    case "mid-tool-call":
      return seen.some((chunk) => isStatus(chunk, "Running "))
  }
}

/** Round 1 on a fresh chat stops before the first token: while its conversation is still being created. */
const firstRound = (round: number, drawn: Point): Point => (round === 1 ? "before the first token" : drawn)

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0

const summary = (label: string, durations: ReadonlyArray<number>, counts: Map<Point, number>) => {
  const sorted = [...durations].sort((a, b) => a - b)
  return `${label}: ${durations.length} next turns answered after a stop ` +
    `(${[...counts].map(([point, n]) => `${n} ${point}`).join(", ")}); next turn p50 ${percentile(sorted, 0.5)} ms, ` +
    `max ${sorted.at(-1) ?? 0} ms`
}

/** Over the OpenAI stream: stop (the client leaves), send again at once, the next turn complete and its own. */
const overHttp = (backend: Backend, seed: number) =>
  Effect.gen(function*() {
    const next = random(seed)
    const chat = `stop-then-send-${backend.name}-${seed}`
    const durations: Array<number> = []
    const counts = new Map<Point, number>()
    for (let round = 1; round <= rounds; round++) {
      const point = firstRound(round, points[Math.floor(next() * points.length)] ?? "mid-text")
      counts.set(point, (counts.get(point) ?? 0) + 1)
      const stopped = point === "mid-tool-call" ? backend.toolMessage(round) : `a turn I will stop, number ${round}`
      const first = yield* streamTurn(backend, chat, stopped, leaveAt(point, Math.floor(next() * 3)))
      const where = `${backend.name}, round ${round} (${point}, seed ${seed})`
      assert.isTrue(first.left, `${where}: the first turn ended before the client left it: ${first.text.slice(-300)}`)
      // the next message at once; its length makes the stub's answer its own
      const message = `next message ${round}${".".repeat(round)}`
      const started = Date.now()
      const answer = yield* streamTurn(backend, chat, message, () => false).pipe(
        Effect.timeoutFail({ duration: Duration.seconds(60), onTimeout: () => new Error(`${where}: the next turn hung`) })
      )
      durations.push(Date.now() - started)
      const chunks = sseData(answer.text)
      assert.isFalse(chunks.some((chunk) => "error" in chunk), `${where}: ${answer.text.slice(-400)}`)
      assert.isTrue(answer.text.trimEnd().endsWith("data: [DONE]"), where)
      const text = chunks.map(contentOf).join("")
      assert.include(text, backend.answerTo(message), `${where}: answered ${JSON.stringify(text)}`)
    }
    yield* Console.log(summary(`stop-then-send over the OpenAI stream, ${backend.name}`, durations, counts))
  })

/** Over the WebSocket: `{"type":"cancel"}` at a random point, the next turn at once on the same socket. */
const overWebSocket = (backend: Backend, seed: number) =>
  Effect.gen(function*() {
    const socket = yield* Socket.makeWebSocket(`${backend.url.replace("http://", "ws://")}/v1/ws`)
    const received = yield* Queue.unbounded<Record<string, unknown>>()
    const opened = yield* Deferred.make<void>()
    yield* socket.runRaw(
      (data) => Queue.offer(received, JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data)) as Record<string, unknown>),
      { onOpen: Deferred.succeed(opened, undefined) }
    ).pipe(Effect.forkScoped)
    yield* Deferred.await(opened)
    const write = yield* socket.writer
    const send = (message: unknown) => write(JSON.stringify(message)).pipe(Effect.orDie)
    const take = Queue.take(received).pipe(
      Effect.timeoutFail({ duration: Duration.seconds(60), onTimeout: () => new Error(`${backend.name}: no event for 60 s`) })
    )
    const chat = `stop-then-send-ws-${backend.name}-${seed}`
    const turn = (content: string) => send({ type: "turn", model: backend.model, chat_id: chat, messages: [{ role: "user", content }] })
    const next = random(seed)
    const durations: Array<number> = []
    const counts = new Map<Point, number>()
    for (let round = 1; round <= rounds; round++) {
      const point = firstRound(round, points[Math.floor(next() * points.length)] ?? "mid-text")
      counts.set(point, (counts.get(point) ?? 0) + 1)
      const where = `${backend.name} WebSocket, round ${round} (${point}, seed ${seed})`
      yield* turn(point === "mid-tool-call" ? backend.toolMessage(round) : `a turn I will cancel, number ${round}`)
      const extra = Math.floor(next() * 3)
      let texts = 0
      for (;;) {
        if (point === "before the first token") break
        const event = yield* take
        assert.notStrictEqual(event.type, "error", `${where}: ${JSON.stringify(event)}`)
        if (event.type === "message") texts += 1
        const data = event.data as { description?: string } | undefined
        if (point === "mid-text" && texts > extra) break
        if (point === "mid-tool-call" && (event.type === "tool_call" || (data?.description ?? "").startsWith("Running "))) break
        assert.notStrictEqual(event.type, "done", `${where}: the turn ended before it was cancelled`)
      }
      yield* send({ type: "cancel" })
      // events of the cancelled turn may still be on their way: the cancel's own `done` ends them
      for (;;) {
        const event = yield* take
        if (event.type === "done" && (event.data as { stop_reason?: string }).stop_reason === "cancelled") break
      }
      const message = `next message ${round}${".".repeat(round)}`
      const started = Date.now()
      yield* turn(message)
      let answer = ""
      for (;;) {
        const event = yield* take
        assert.notStrictEqual(event.type, "error", `${where}: ${JSON.stringify(event)}`)
        if (event.type === "message") answer += (event.data as { content: string }).content
        if (event.type === "done") break
      }
      durations.push(Date.now() - started)
      assert.include(answer, backend.answerTo(message), `${where}: answered ${JSON.stringify(answer)}`)
    }
    yield* Console.log(summary(`stop-then-send over the WebSocket, ${backend.name}`, durations, counts))
  }).pipe(Effect.scoped, Effect.provide(NodeSocket.layerWebSocketConstructor))

/**
 * In the interactive CLI, in a real terminal: Ctrl-C mid-text or mid-tool-call, the next line at once. (Before the
 * first token is covered by the other surfaces: a terminal cannot tell that moment from outside.)
 */
const overTerminal = (
  label: string,
  env: Record<string, string>,
  args: ReadonlyArray<string>,
  answerTo: (message: string) => string,
  seed: number
) =>
  Effect.gen(function*() {
    const { keys, open, until } = terminal(`letta-stop-then-send-${process.pid}-${seed}`)
    yield* open(`node ${main} chat ${args.join(" ")}; echo EXIT=$?; sleep 60`, env)
    yield* until((text) => text.includes("›"), "the prompt")
    const next = random(seed)
    const durations: Array<number> = []
    const counts = new Map<Point, number>()
    const prompts = (text: string) => count(text, "› ")
    for (let round = 1; round <= rounds; round++) {
      const point: Point = next() < 0.5 ? "mid-text" : "mid-tool-call"
      counts.set(point, (counts.get(point) ?? 0) + 1)
      const where = `${label} terminal, round ${round} (${point}, seed ${seed})`
      const stopped = point === "mid-tool-call" ? `search for stop test ${round} [[tool]]` : `a turn I will stop, number ${round}`
      yield* keys("C-l", stopped, "Enter")
      // text of this turn, or its tool call, is on the screen: stop it there
      yield* until((text) => {
        const after = text.slice(text.indexOf(stopped) + stopped.length)
        return text.includes(stopped) && (point === "mid-tool-call" ? after.includes("→ ") : /You said|stub LLM/.test(after))
      }, where)
      yield* keys("C-c")
      // the screen was cleared before the turn: this is its stop
      yield* until((text) => text.includes("(stopped)"), `${where}: the stop`)
      const message = `next message ${round}${".".repeat(round)}`
      const started = Date.now()
      yield* keys(message, "Enter")
      yield* until(
        (text) => text.includes(answerTo(message)) && prompts(text.slice(text.lastIndexOf(message))) >= 1,
        `${where}: the next answer`,
        Duration.seconds(60)
      )
      durations.push(Date.now() - started)
    }
    yield* keys("/exit", "Enter")
    yield* until((text) => text.includes("EXIT=0"), `${label}: a clean exit`)
    yield* Console.log(summary(`stop-then-send in the interactive CLI (Ctrl-C), ${label}`, durations, counts))
  }).pipe(Effect.scoped)

// each server its own router (layers are shared by reference otherwise)
const Live = Layer.mergeAll(
  // a token every 15 ms: a turn lasts about a second; a stopped run winds down for half a second (the default)
  Layer.fresh(Emulator.layer({ tokenDelay: Duration.millis(15) })),
  Layer.fresh(StubLlm.layer({ toolName: "Read", toolArguments: JSON.stringify({ file_path: file }), chunkDelay: Duration.millis(40) })),
  NodeContext.layer,
  NodeHttpClient.layerUndici
)

layer(Live, { excludeTestServices: true })("stop, then send again", (it) => {
  it.effect(`the emulator: ${rounds} rounds over the OpenAI stream and over the WebSocket`, () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const url = yield* startAndWait(["serve", "--port", "0"], {
        LETTA_BASE_URL: emulator.url,
        LETTA_AGENT_ID: emulator.demoAgent.id,
        PIPELINE_STORE: "memory"
      })
      const backend: Backend = {
        name: "emulator",
        url,
        model: emulator.demoAgent.id,
        answerTo: (message) => `You said: "${message}"`,
        toolMessage: (round) => `search for stop test ${round}`
      }
      yield* overHttp(backend, 20261130)
      yield* overWebSocket(backend, 20261131)
      const conversation = yield* emulator.store.createConversation(emulator.demoAgent.id)
      yield* overTerminal(
        "emulator",
        { LETTA_BASE_URL: emulator.url, LETTA_AGENT_ID: emulator.demoAgent.id },
        ["--conversation", conversation.id],
        backend.answerTo,
        20261134
      )
    }).pipe(Effect.scoped), { timeout: 240_000 })

  it.effect(`the real Letta App Server: ${rounds} rounds over the OpenAI stream and over the WebSocket`, () =>
    Effect.gen(function*() {
      const stub = yield* StubLlm.StubLlm
      const app = yield* startAppServer(home, stub.url, token)
      const url = yield* startAndWait(["serve", "--port", "0"], {
        LETTA_BASE_URL: app.ws,
        LETTA_API_KEY: token,
        LETTA_AGENT_ID: app.agentId,
        PIPELINE_STORE: "memory"
      })
      const backend: Backend = {
        name: "App Server",
        url,
        model: app.agentId,
        answerTo: (message) => `I received ${message.length} characters.`,
        toolMessage: (round) => `read the file [[tool]] ${round}`
      }
      yield* overHttp(backend, 20261132)
      yield* overWebSocket(backend, 20261133)
      yield* overTerminal(
        "App Server",
        { LETTA_BASE_URL: app.ws, LETTA_API_KEY: token, LETTA_AGENT_ID: app.agentId },
        [],
        backend.answerTo,
        20261135
      )
    }).pipe(Effect.scoped), { timeout: 400_000 })
})
