/// <reference lib="dom" />
/**
 * The real Open WebUI (PyPI `open-webui`, pinned) in front of the server, configured as a user would: the server as an
 * OpenAI API connection (`…/v1`, with Open WebUI forwarding its user and chat headers) and as a Pipelines connection
 * (the server's root, with its prefix id `letta`), over the emulator. Driven through Open WebUI's own HTTP API: sign
 * in, list models, create chats, send messages as its page does, read the stored chats back.
 */
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import { Emulator } from "@letta-pipeline/emulator"
import { Console, Context, Duration, Effect, Layer, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import { mkdirSync, mkdtempSync } from "node:fs"
import * as os from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { type Browser, chromium, type Page } from "playwright-core"
import { startAndWait } from "./utils/cli.js"
import { api, type OpenWebUI, openWebUIVersion, relay, startOpenWebUI } from "./utils/openwebui.js"
import { chatOf, isError, send } from "./utils/openwebuiChat.js"

const key = "pk-open-webui-test"
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"
const artifacts = fileURLToPath(new URL("../artifacts/", import.meta.url))

interface Setup {
  readonly webui: OpenWebUI
  readonly emulator: Emulator.Service
  readonly server: string
  /** Plays a Letta that is down (and back). */
  readonly lettaDown: (down: boolean) => void
  /** The model ids of the demo agent through each connection. */
  readonly models: { readonly openai: string; readonly pipelines: string }
}
class SetupTag extends Context.Tag("OpenWebUISetup")<SetupTag, Setup>() {}

const SetupLive = Layer.scoped(
  SetupTag,
  Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    const letta = yield* relay(emulator.url)
    const server = yield* startAndWait(["serve", "--port", "0"], {
      LETTA_BASE_URL: letta.url,
      PIPELINE_API_KEY: key,
      PIPELINE_STORE: "memory"
    })
    const webui = yield* startOpenWebUI(mkdtempSync(join(os.tmpdir(), "letta-openwebui-")))
    yield* Console.log(`Open WebUI ${openWebUIVersion}: ready ${webui.readyMs} ms after its start`)
    // Admin Settings → Connections: an OpenAI API connection at /v1, and a Pipelines one at the root
    yield* api(webui).setConnections([
      { url: `${server}/v1`, key, prefix: "" },
      { url: server, key, prefix: "letta" }
    ])
    const agent = emulator.demoAgent.id
    return { webui, emulator, server, lettaDown: letta.setDown, models: { openai: agent, pipelines: `letta.${agent}` } }
  })
)

const Live = SetupLive.pipe(
  Layer.provideMerge(Layer.mergeAll(Layer.fresh(Emulator.layer()), NodeContext.layer, NodeHttpClient.layerUndici))
)

const kinds = ["openai", "pipelines"] as const

/** How many requests the server answered on a route (its own metrics). */
const served = (server: string, route: string) =>
  Effect.promise(async () => {
    const text = await (await fetch(`${server}/metrics`, { headers: { authorization: `Bearer ${key}` } })).text()
    return text.split("\n")
      .filter((line) => line.startsWith(`letta_pipeline_http_requests_total{route="${route}"`))
      .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0)
  })

/** What reached Letta since `from` (the user messages of the streams the emulator opened). */
const sentToLetta = (emulator: Emulator.Service, from: number) =>
  Effect.map(emulator.stats.streams, (streams) => streams.slice(from).map((s) => s.message))

layer(Live, { excludeTestServices: true, timeout: Duration.minutes(15) })(`the real Open WebUI ${openWebUIVersion}`, (it) => {
  it.effect("every agent appears as a model through both connections; the Pipelines one as a pipeline", () =>
    Effect.gen(function*() {
      const { emulator, models, webui } = yield* SetupTag
      const second = yield* emulator.store.createAgent({ name: "second-agent" })
      // Open WebUI caches the model list for a moment: ask until the new agent is there
      const listed = yield* api(webui).models.pipe(
        Effect.filterOrFail((list) => list.data.some((m) => m.id === second.id)),
        Effect.retry(Schedule.spaced("500 millis").pipe(Schedule.upTo("20 seconds")))
      )
      const ids = listed.data.map((m) => m.id)
      for (const id of [models.openai, models.pipelines, second.id, `letta.${second.id}`]) assert.include(ids, id)
      assert.isUndefined(listed.data.find((m) => m.id === models.openai)?.pipeline)
      assert.isDefined(listed.data.find((m) => m.id === models.pipelines)?.pipeline)
      assert.strictEqual(listed.data.find((m) => m.id === models.openai)?.name, "demo-agent")
    }))

  it.effect("an agent deleted in Letta after Open WebUI listed it: an error that names the agent, through both connections", () =>
    Effect.gen(function*() {
      const setup = yield* SetupTag
      const doomed = yield* setup.emulator.store.createAgent({ name: "doomed-agent" })
      yield* api(setup.webui).models.pipe(
        Effect.filterOrFail((list) => list.data.some((m) => m.id === doomed.id)),
        Effect.retry(Schedule.spaced("500 millis").pipe(Schedule.upTo("20 seconds")))
      )
      yield* setup.emulator.store.deleteAgent(doomed.id)
      for (const model of [doomed.id, `letta.${doomed.id}`]) {
        const sent = yield* send(setup.webui, { model, content: "Hello?", sessionId: randomUUID() })
        assert.isTrue(isError(sent.answer), JSON.stringify(sent.answer))
        assert.match(JSON.stringify(sent.answer.error), /agent/i)
      }
    }))

  for (const kind of kinds) {
    it.effect(`${kind}: reasoning, the tool call with its result (never run by Open WebUI), the answer and usage are stored`, () =>
      Effect.gen(function*() {
        const setup = yield* SetupTag
        const model = setup.models[kind]
        const before = yield* setup.emulator.stats.snapshot
        const inlets = yield* served(setup.server, "/:pipeline_id/filter/inlet")
        const completions = yield* served(setup.server, kind === "openai" ? "/v1/chat/completions" : "/chat/completions")
        const { chat, answer } = yield* send(setup.webui, { model, content: "Please search for Letta memory" })
        const after = yield* setup.emulator.stats.snapshot
        // one Letta turn, one request: Open WebUI did not call the model again to run the tool itself
        assert.strictEqual(after.total_streams - before.total_streams, 1)
        assert.strictEqual((yield* served(setup.server, kind === "openai" ? "/v1/chat/completions" : "/chat/completions")) - completions, 1)
        // the connection kind is the one configured: only the Pipelines one calls the inlet filter first
        assert.strictEqual((yield* served(setup.server, "/:pipeline_id/filter/inlet")) - inlets, kind === "pipelines" ? 1 : 0)
        assert.isTrue(answer.done)
        assert.isNull(answer.error ?? null)
        assert.strictEqual(answer.content, `I searched for "Letta memory" and found 3 results: Letta documentation, Letta blog, Letta on GitHub. This is the start of our conversation.`)
        assert.deepStrictEqual(answer.output.map((item) => item.type), ["reasoning", "function_call", "function_call_output", "reasoning", "message"])
        const call = answer.output[1]!
        const result = answer.output[2]!
        assert.strictEqual(call.name, "web_search")
        assert.strictEqual(call.arguments, `{"query":"Letta memory"}`)
        assert.strictEqual(result.call_id, call.call_id)
        assert.deepStrictEqual(result.output, [{ type: "input_text", text: `Found 3 results for "Letta memory": Letta documentation, Letta blog, Letta on GitHub.` }])
        assert.include(JSON.stringify(answer.output[0]!.content), "I will call web_search")
        assert.strictEqual(answer.output[3]!.content?.[0]?.text, "web_search returned 3 results; I will summarise them.")
        assert.notInclude(answer.content, "<details")
        assert.isAbove(answer.usage?.total_tokens ?? 0, 0)
        assert.strictEqual(chat.id.length > 0, true)
      }))

    it.effect(`${kind}: a second message continues the Letta conversation; a new chat starts a new one; regenerate sends only the newest message`, () =>
      Effect.gen(function*() {
        const setup = yield* SetupTag
        const model = setup.models[kind]
        const first = yield* send(setup.webui, { model, content: `Hello from ${kind}` })
        const second = yield* send(setup.webui, { model, content: "And again", chat: first.chat })
        assert.include(second.answer.content, `You said: "And again"`)
        assert.include(second.answer.content, `Hello from ${kind}`)
        const fresh = yield* send(setup.webui, { model, content: "A new chat" })
        assert.include(fresh.answer.content, "This is the start of our conversation")
        // regenerate: a new answer to the same user message, as a sibling of the first
        const streams = (yield* setup.emulator.stats.streams).length
        const again = yield* send(setup.webui, { model, regenerate: second, chat: second.chat })
        const sent = (yield* setup.emulator.stats.streams).slice(streams).map((s) => s.message)
        assert.deepStrictEqual(sent, ["And again"])
        assert.include(again.answer.content, `You said: "And again"`)
        const stored = yield* chatOf(setup.webui, first.chat.id)
        assert.strictEqual(Object.values(stored.history.messages).filter((m) => m.role === "assistant").length, 3)
      }))

    it.effect(`${kind}: with title, tags and follow-ups on, the chat gets a title and Letta gets only the user's messages`, () =>
      Effect.gen(function*() {
        const setup = yield* SetupTag
        const model = setup.models[kind]
        const from = (yield* setup.emulator.stats.streams).length
        const first = yield* send(setup.webui, { model, content: "Plan a trip to Lisbon", tasks: true })
        const second = yield* send(setup.webui, { model, content: "What about Porto?", chat: first.chat, tasks: true })
        const stored = yield* chatOf(setup.webui, first.chat.id)
        assert.notStrictEqual(stored.title, "New Chat")
        assert.include(stored.title.toLowerCase(), "lisbon")
        // follow-ups were asked for and stored (as a list; what the agent suggests is not the point)
        assert.isArray(stored.history.messages[second.answerId]?.followUps)
        assert.isAbove(second.answer.content.length, 0)
        assert.deepStrictEqual(yield* sentToLetta(setup.emulator, from), ["Plan a trip to Lisbon", "What about Porto?"])
        assert.include(second.answer.content, "Plan a trip to Lisbon")
      }))

    it.effect(`${kind}: stopping a response in Open WebUI closes the upstream Letta stream; the next message works`, () =>
      Effect.gen(function*() {
        const setup = yield* SetupTag
        const model = setup.models[kind]
        const before = yield* setup.emulator.stats.snapshot
        // the emulator keeps this turn open, silent, after its first frames
        const slow = yield* send(setup.webui, { model, content: "Tell me slowly [[fault:stall]]", sessionId: randomUUID(), wait: false })
        const taskIds = (slow.response as { task_ids?: ReadonlyArray<string> }).task_ids ?? []
        assert.lengthOf(taskIds, 1)
        yield* setup.emulator.stats.snapshot.pipe(
          Effect.filterOrFail((stats) => stats.active_streams > before.active_streams),
          Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("20 seconds")))
        )
        yield* api(setup.webui).call("POST", `/api/tasks/stop/${taskIds[0]}`)
        const after = yield* setup.emulator.stats.snapshot.pipe(
          Effect.filterOrFail((stats) => stats.client_closed_streams > before.client_closed_streams && stats.active_streams === before.active_streams),
          Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("10 seconds")))
        )
        assert.strictEqual(after.client_closed_streams - before.client_closed_streams, 1)
        const next = yield* send(setup.webui, { model, content: "Are you there?", chat: slow.chat, sessionId: randomUUID() })
        assert.isFalse(isError(next.answer))
        assert.include(next.answer.content, `You said: "Are you there?"`)
      }))

    it.effect(`${kind}: errors appear in the chat as Open WebUI errors with their cause, and the next message works`, () =>
      Effect.gen(function*() {
        const setup = yield* SetupTag
        const model = setup.models[kind]
        const errorOf = (content: string, chat?: { id: string; model: string }) =>
          Effect.map(send(setup.webui, { model, content, sessionId: randomUUID(), ...(chat ? { chat } : {}) }), (sent) => {
            assert.isTrue(isError(sent.answer), `no error stored for ${JSON.stringify(content)}: ${JSON.stringify(sent.answer)}`)
            return { chat: sent.chat, text: JSON.stringify(sent.answer.error) }
          }).pipe(Effect.tap(({ text }) => Console.log(`${kind}: ${JSON.stringify(content)} → stored error ${text}`)))
        const works = (chat: { id: string; model: string }, content: string) =>
          Effect.map(send(setup.webui, { model, content, chat, sessionId: randomUUID() }), (sent) => {
            assert.isFalse(isError(sent.answer), JSON.stringify(sent.answer.error))
            assert.include(sent.answer.content, `You said: "${content}"`)
          })

        // an LLM failure in the middle of the stream
        const llm = yield* errorOf("Start, then fail [[fault:llm-error]]")
        assert.include(llm.text, "the call to the model provider failed")
        yield* works(llm.chat, "After the LLM failure")

        // a run that Letta reports failed only by its stop reason
        const failed = yield* errorOf("Fail quietly [[fault:stop:llm_api_error]]")
        assert.include(failed.text, "llm_api_error")
        yield* works(failed.chat, "After the failed run")

        // Letta down
        setup.lettaDown(true)
        const down = yield* errorOf("Is Letta there?").pipe(Effect.ensuring(Effect.sync(() => setup.lettaDown(false))))
        assert.match(down.text, /Cannot reach Letta: the connection was (closed|refused)/)
        // the cause in words: not the address of Letta
        assert.notMatch(down.text, /127\.0\.0\.1|http:|\/v1\//)
        yield* works(down.chat, "Letta is back")
      }))
  }

  describe("in the browser", () => {
    /**
     * Debian's Chromium on Open WebUI's own page, signed in as the admin (its token in local storage, as sign-in leaves
     * it), with this release's notes marked as read (the page shows them to an admin once per version).
     */
    const withPage = <A, E, R>(use: (page: Page, setup: Setup) => Effect.Effect<A, E, R>) =>
      Effect.gen(function*() {
        const setup = yield* SetupTag
        yield* api(setup.webui).call("POST", "/api/v1/users/user/settings/update", { ui: { version: openWebUIVersion } })
        const browser = yield* Effect.acquireRelease(
          Effect.tryPromise({
            try: () => chromium.launch({ executablePath: chromiumPath, timeout: 30_000 }),
            catch: (error) => new Error(`Chromium at ${chromiumPath} did not start (install Debian's chromium, or set CHROMIUM_PATH): ${error}`)
          }),
          (browser: Browser) => Effect.promise(() => browser.close())
        )
        const page = yield* Effect.promise(async () => {
          const context = await browser.newContext({ viewport: { width: 1100, height: 720 } })
          await context.addInitScript((token) => localStorage.setItem("token", token), setup.webui.token)
          const page = await context.newPage()
          page.setDefaultTimeout(20_000)
          return page
        })
        mkdirSync(artifacts, { recursive: true })
        return yield* use(page, setup)
      }).pipe(Effect.scoped)

    const ask = (page: Page, url: string, model: string, text: string) =>
      Effect.promise(async () => {
        await page.goto(`${url}/?model=${encodeURIComponent(model)}`)
        await page.locator("#chat-input").click()
        await page.keyboard.type(text)
        await page.keyboard.press("Enter")
      })

    it.effect("a tool call: the reasoning, the call with its arguments and result, and the answer are on the page", () =>
      withPage((page, setup) =>
        Effect.gen(function*() {
          yield* ask(page, setup.webui.url, setup.models.openai, "Please search for Letta memory")
          const seen = yield* Effect.promise(async () => {
            await page.getByText("This is the start of our conversation").waitFor()
            await page.screenshot({ path: join(artifacts, "openwebui-answer.png") })
            // the collapsed group of reasoning and tool calls, opened as a user would
            await page.getByText("Explored").first().click()
            await page.getByText("View Result from web_search").click()
            await page.getByText("Thought", { exact: true }).first().click()
            await page.getByText("I will call web_search").waitFor()
            await page.getByText(`Found 3 results for "Letta memory"`).waitFor()
            await page.screenshot({ path: join(artifacts, "openwebui-tool-call.png") })
            return page.locator("#messages-container, main").first().innerText()
          })
          assert.include(seen, "View Result from web_search")
          assert.include(seen, "I will call web_search")
          assert.include(seen, "Letta memory")
          assert.include(seen, `I searched for "Letta memory" and found 3 results`)
          assert.notInclude(seen, "Tool not found")
          assert.notInclude(seen, "<details")
        })
      ), 60_000)

    it.effect("Stop on a slow turn closes the upstream Letta stream", () =>
      withPage((page, setup) =>
        Effect.gen(function*() {
          const before = yield* setup.emulator.stats.snapshot
          yield* ask(page, setup.webui.url, setup.models.pipelines, "Take your time [[fault:stall]]")
          yield* setup.emulator.stats.snapshot.pipe(
            Effect.filterOrFail((stats) => stats.active_streams > before.active_streams),
            Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("20 seconds")))
          )
          yield* Effect.promise(() => page.locator("button[aria-label='Stop']").click())
          const after = yield* setup.emulator.stats.snapshot.pipe(
            Effect.filterOrFail((stats) => stats.client_closed_streams > before.client_closed_streams && stats.active_streams === before.active_streams),
            Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("10 seconds")))
          )
          assert.strictEqual(after.client_closed_streams - before.client_closed_streams, 1)
          // the page is ready for the next message: its send button is back
          yield* Effect.promise(() => page.locator("button[aria-label='Stop']").waitFor({ state: "detached" }))
          yield* Effect.promise(() => page.screenshot({ path: join(artifacts, "openwebui-stopped.png") }))
        })
      ), 60_000)
  })
})
