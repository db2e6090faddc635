/**
 * The whole real chain: the real Open WebUI → the server → the real Letta App Server (offline, over the project's stub
 * LLM), and, in the same Open WebUI, the App Server's own OpenAI-compatible endpoint (`--openai-api`) as a second
 * connection to the same agent: the same prompts through both, and what the Open WebUI user gets from each, printed
 * as a table (with the time to first content as Open WebUI's backend sees it, through a relay in front of each).
 */
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { StubLlm } from "@letta-pipeline/emulator"
import { Console, Context, Duration, Effect, Layer, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import { mkdtempSync } from "node:fs"
import * as os from "node:os"
import { join } from "node:path"
import { prepare, startAppServer } from "./utils/appServer.js"
import { startAndWait } from "./utils/cli.js"
import { api, type OpenWebUI, openWebUIVersion, relay, startOpenWebUI } from "./utils/openwebui.js"
import { chatOf, isError, send, type Sent } from "./utils/openwebuiChat.js"

const key = "pk-open-webui-app-server"
const token = "open-webui-app-server-token"
const home = mkdtempSync(join(os.tmpdir(), "letta-openwebui-app-server-"))
const { file } = prepare(home)

interface Route {
  readonly name: string
  readonly model: string
  readonly timings: () => ReadonlyArray<{ readonly shown: number; readonly answer: number }>
}

interface Setup {
  readonly webui: OpenWebUI
  readonly stub: StubLlm.Service
  readonly bridge: Route
  readonly builtIn: Route
}
class SetupTag extends Context.Tag("OpenWebUIAppServerSetup")<SetupTag, Setup>() {}

const SetupLive = Layer.scoped(
  SetupTag,
  Effect.gen(function*() {
    const stub = yield* StubLlm.StubLlm
    const app = yield* startAppServer(home, stub.url, token)
    const server = yield* startAndWait(["serve", "--port", "0"], {
      LETTA_BASE_URL: app.ws,
      LETTA_API_KEY: token,
      PIPELINE_API_KEY: key,
      PIPELINE_STORE: "memory"
    })
    const ours = yield* relay(server)
    const theirs = yield* relay(app.http)
    const webui = yield* startOpenWebUI(mkdtempSync(join(os.tmpdir(), "letta-openwebui-")))
    yield* api(webui).setConnections([
      { url: `${ours.url}/v1`, key, prefix: "bridge" },
      { url: `${theirs.url}/v1`, key: token, prefix: "letta-code" }
    ])
    const bridge = { name: "this server", model: `bridge.${app.agentId}`, timings: ours.timings }
    // the App Server names its models after unique agent names
    const builtIn = { name: "App Server --openai-api", model: "letta-code.pipeline-test", timings: theirs.timings }
    yield* api(webui).models.pipe(
      Effect.filterOrFail((list) => [bridge.model, builtIn.model].every((id) => list.data.some((m) => m.id === id))),
      Effect.retry(Schedule.spaced("500 millis").pipe(Schedule.upTo("20 seconds")))
    )
    return { webui, stub, bridge, builtIn }
  })
)

const Live = SetupLive.pipe(
  Layer.provideMerge(Layer.mergeAll(
    StubLlm.layer({ toolName: "Read", toolArguments: JSON.stringify({ file_path: file }) }),
    NodeContext.layer,
    NodeHttpClient.layerUndici
  ))
)

/** The text of the last user message of each request the stub LLM got since `from`. */
const llmPrompts = (stub: StubLlm.Service, from: number) =>
  Effect.map(stub.requests, (requests) =>
    requests.slice(from).map((request) => {
      const messages = (request as { messages?: ReadonlyArray<{ role: string; content?: unknown }> }).messages ?? []
      const last = messages.filter((m) => m.role === "user").at(-1)
      return typeof last?.content === "string" ? last.content : JSON.stringify(last?.content ?? "")
    }))

/** Whether the stub LLM got any of Open WebUI's task prompts (title, tags, follow-ups all start with "### Task"). */
const isTaskPrompt = (prompt: string) => prompt.includes("### Task")

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN

interface Observed {
  readonly reasoning: boolean
  readonly toolCalls: boolean
  readonly usage: boolean
  readonly titlesKeptOut: boolean
  readonly titled: boolean
  readonly threadPerChat: boolean
  readonly error: string
  /** Median time to the first thing shown (reasoning or text), and to the answer's first word, in ms. */
  readonly firstShownMs: number
  readonly firstWordMs: number
}

/** The same prompts through one connection, and what its Open WebUI user gets. */
const observe = (setup: Setup, route: Route) =>
  Effect.gen(function*() {
    const { webui, stub } = setup
    const model = route.model
    const from = (yield* stub.requests).length
    // a tool turn, with Open WebUI's title, tags and follow-ups on
    const tool = yield* send(webui, { model, content: `Read the file [[tool]] ${randomUUID()}`, tasks: true })
    const second = yield* send(webui, { model, content: "What was my first message?", chat: tool.chat, tasks: true })
    const prompts = yield* llmPrompts(stub, from)
    // the second message's LLM request carries the first turn: the chat's own thread
    const secondRequest = (yield* stub.requests).slice(from).findLast((request) => JSON.stringify(request).includes("What was my first message?"))
    const fresh = yield* send(webui, { model, content: "A new chat: anything before?" })
    const freshRequest = (yield* stub.requests).findLast((request) => JSON.stringify(request).includes("A new chat: anything before?"))
    const failed = yield* send(webui, { model, content: "Now fail [[fail]]", sessionId: randomUUID() })
    // five timed turns in one chat after a warm-up
    const timings = route.timings().length
    let chat: Sent["chat"] | undefined = undefined
    for (let i = 0; i < 6; i++) {
      const turn: Sent = yield* send(webui, { model, content: `Hi ${i}`, ...(chat ? { chat } : {}) })
      chat = turn.chat
    }
    const stored = yield* chatOf(webui, tool.chat.id)
    const observed: Observed = {
      reasoning: tool.answer.output.some((item) => item.type === "reasoning"),
      toolCalls: tool.answer.output.some((item) => item.type === "function_call") &&
        tool.answer.output.some((item) => item.type === "function_call_output"),
      usage: (tool.answer.usage?.total_tokens ?? 0) > 0,
      titlesKeptOut: !prompts.some(isTaskPrompt),
      titled: stored.title !== "New Chat" && stored.title !== "",
      threadPerChat: JSON.stringify(secondRequest ?? "").includes("Read the file") &&
        !JSON.stringify(freshRequest ?? "").includes("What was my first message?"),
      error: isError(failed.answer) ? JSON.stringify(failed.answer.error).slice(0, 300) : `(none) ${failed.answer.content.slice(0, 100)}`,
      firstShownMs: median(route.timings().slice(timings + 1).map((t) => t.shown)),
      firstWordMs: median(route.timings().slice(timings + 1).map((t) => t.answer))
    }
    yield* Console.log(`${route.name}: ${JSON.stringify(observed)} (${fresh.answer.content.length} characters in a new chat)`)
    return { observed, tool, second }
  })

layer(Live, { excludeTestServices: true, timeout: Duration.minutes(15) })(`the real Open WebUI ${openWebUIVersion} and the real Letta App Server`, (it) => {
  it.effect("the whole chain: reasoning, the tool call with its result and usage in Open WebUI's stored chat; side by side with the App Server's own OpenAI endpoint", () =>
    Effect.gen(function*() {
      const setup = yield* SetupTag
      const ours = yield* observe(setup, setup.bridge)
      const answer = ours.tool.answer
      assert.isFalse(isError(answer), JSON.stringify(answer.error))
      assert.deepStrictEqual(answer.output.map((item) => item.type).filter((type) => type !== "reasoning"), ["function_call", "function_call_output", "message"])
      const call = answer.output.find((item) => item.type === "function_call")!
      assert.strictEqual(call.name, "Read")
      assert.include(call.arguments ?? "", "hello.txt")
      assert.include(JSON.stringify(answer.output.find((item) => item.type === "function_call_output")), "hello file content")
      assert.include(answer.content, "Tool result received. Final answer from the stub LLM.")
      assert.deepStrictEqual({ ...ours.observed, error: !ours.observed.error.startsWith("(none)"), firstShownMs: 0, firstWordMs: 0 }, {
        reasoning: true,
        toolCalls: true,
        usage: true,
        titlesKeptOut: true,
        titled: true,
        threadPerChat: true,
        error: true,
        firstShownMs: 0,
        firstWordMs: 0
      })

      const theirs = yield* observe(setup, setup.builtIn)
      // what the App Server's own endpoint gives an Open WebUI user (letta-code 0.32.18): text only, its tool runs
      // silently, the task prompts become agent turns, and the chat id keeps a thread
      assert.deepStrictEqual({ ...theirs.observed, error: !theirs.observed.error.startsWith("(none)"), firstShownMs: 0, firstWordMs: 0 }, {
        reasoning: false,
        toolCalls: false,
        usage: false,
        titlesKeptOut: false,
        titled: true,
        threadPerChat: true,
        error: true,
        firstShownMs: 0,
        firstWordMs: 0
      })
      yield* Console.log([
        "| What the Open WebUI user gets | this server | App Server --openai-api |",
        "|---|---|---|",
        ...(["reasoning", "toolCalls", "usage", "titlesKeptOut", "titled", "threadPerChat", "error", "firstShownMs", "firstWordMs"] as const).map((row) =>
          `| ${row} | ${String(ours.observed[row])} | ${String(theirs.observed[row])} |`
        )
      ].join("\n"))
    }), 300_000)
})
