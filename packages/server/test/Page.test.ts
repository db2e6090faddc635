/// <reference lib="dom" />
/**
 * The chat page in a real browser: Debian's Chromium (`CHROMIUM_PATH` to use another) driven by playwright-core, against
 * the server over the in-process emulator. Screenshots go to `packages/server/artifacts/`.
 */
import { Emulator, type Stats } from "@letta-pipeline/emulator"
import { Duration, Effect, Layer, Logger, LogLevel, ManagedRuntime, Option, Redacted } from "effect"
import { mkdirSync, statSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { type Browser, chromium, type Page } from "playwright-core"
import { afterAll, afterEach, assert, beforeAll, describe, it } from "vitest"
import { call, dataLines, demoAgent, emulatorStats, emulatorStatsUntil, fields, json, serverLayer, serverUrl } from "./utils/harness.js"

const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"
const artifacts = fileURLToPath(new URL("../artifacts/", import.meta.url))

let browser: Browser
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: chromiumPath, timeout: 30_000 }).catch((error: Error) => {
    throw new Error(`Chromium at ${chromiumPath} did not start (install Debian's chromium, or set CHROMIUM_PATH): ${error.message}`)
  })
  mkdirSync(artifacts, { recursive: true })
}, 40_000)
afterAll(() => browser?.close())

/**
 * A server for one `describe`, and a fresh page per test whose console errors fail the test (but `expected` ones: the
 * browser logs every non-2xx answer).
 */
const withServer = (layer: ReturnType<typeof serverLayer>, expected?: RegExp) => {
  // the page's requests would log a line each; warnings and errors still show
  const runtime = ManagedRuntime.make(layer.pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))))
  let url = ""
  const problems: Array<string> = []
  const pages: Array<Page> = []
  beforeAll(async () => {
    url = await runtime.runPromise(serverUrl)
  })
  afterAll(() => runtime.dispose())
  afterEach(async () => {
    await Promise.all(pages.splice(0).map((page) => page.context().close()))
    const seen = problems.splice(0)
    assert.deepStrictEqual(seen, [], "the page logged errors")
  })
  const open = async (): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 960, height: 760 } })
    const page = await context.newPage()
    page.setDefaultTimeout(10_000)
    page.on("console", (message) => {
      if (message.type() === "error" && expected?.test(message.text()) !== true) problems.push(message.text())
    })
    page.on("pageerror", (error) => problems.push(error.message))
    pages.push(page)
    await page.goto(url)
    return page
  }
  /** The page, once its agents are listed and a message can be sent. */
  const openChat = async (): Promise<Page> => {
    const page = await open()
    await page.locator("#send:not([disabled])").waitFor()
    return page
  }
  return { runtime, open, openChat }
}

/** Sends a message from the composer and waits for its turn to end. */
const send = async (page: Page, text: string) => {
  const turns = await page.locator(".turn").count()
  await page.fill("#input", text)
  await page.press("#input", "Enter")
  const turn = page.locator(".turn").nth(turns)
  await turn.and(page.locator("[aria-busy=false]")).waitFor()
  return turn
}

/** A turn's answer text straight from `POST /v1/pipe` in a chat of its own. */
const answerOf = (text: string) =>
  Effect.flatMap(demoAgent, (agent) =>
    call("POST", "/v1/pipe", { body: { model: agent.id, chat_id: `direct-${text}`, messages: [{ role: "user", content: text }] } })
  ).pipe(Effect.map((answer) => {
    const events = dataLines(answer.text).map(fields)
    return {
      text: events.filter((event) => event.type === "message").map((event) => String(fields(event.data).content)).join(""),
      toolOutput: events.filter((event) => event.type === "tool_result").map((event) => String(fields(event.data).output))
    }
  }))

/** The emulator saw the client go away: one more stream closed by its client, none open, none completed. */
const upstreamClosed = async (
  runtime: ManagedRuntime.ManagedRuntime<Emulator.Emulator, unknown>,
  before: Stats.Snapshot
) => {
  const after = await runtime.runPromise(
    emulatorStatsUntil((s) => s.client_closed_streams > before.client_closed_streams && s.active_streams === 0)
  )
  assert.strictEqual(after.client_closed_streams, before.client_closed_streams + 1)
  assert.strictEqual(after.completed_streams, before.completed_streams)
}

describe("the chat page", () => {
  const server = withServer(serverLayer({ emulator: { tokenDelay: Duration.millis(8) } }))

  it("is what a browser gets at /; Open WebUI still gets the Pipelines status there", async () => {
    const status = await server.runtime.runPromise(call("GET", "/", { headers: { accept: "application/json" } }))
    assert.deepStrictEqual(json(status), { status: true })
    const html = await server.runtime.runPromise(call("GET", "/", { headers: { accept: "text/html" } }))
    assert.include(html.headers["content-type"], "text/html")
    assert.include(html.headers["content-security-policy"], "script-src 'self'")
    const again = await server.runtime.runPromise(call("GET", "/", { headers: { accept: "text/html", "if-none-match": html.headers.etag ?? "" } }))
    assert.strictEqual(again.status, 304)

    const page = await server.open()
    const models = json(await server.runtime.runPromise(call("GET", "/v1/models")))
    const names = (models.data as ReadonlyArray<unknown>).map((model) => String(fields(model).name))
    await page.locator("#agent:not([disabled])").waitFor()
    assert.deepStrictEqual(await page.locator("#agent option").allTextContents(), names)
    assert.isTrue(await page.locator("#send").isEnabled())
  })

  it("streams the answer in, keeps the chat's thread, and starts a new one on New chat", async () => {
    const page = await server.openChat()
    // every state of the answer's text while its turn is still running
    await page.evaluate(() => {
      const seen: Array<string> = []
      Reflect.set(window, "answerStates", seen)
      new MutationObserver(() => {
        const turn = document.querySelector(".turn:last-of-type")
        const text = turn?.querySelector(".text")?.textContent
        if (turn?.getAttribute("aria-busy") === "true" && text !== undefined && text !== null) seen.push(text)
      }).observe(document.getElementById("log")!, { subtree: true, childList: true, characterData: true })
    })
    const first = "hello from the browser"
    const turn = await send(page, first)
    const final = await turn.locator(".text").textContent() ?? ""
    const expected = await server.runtime.runPromise(answerOf(first))
    assert.strictEqual(final, expected.text)
    assert.include(final, "This is the start of our conversation.")
    const states = [...new Set(await page.evaluate(() => Reflect.get(window, "answerStates") as Array<string>))]
    assert.isAtLeast(states.length, 5, "the text arrived in pieces while the turn ran")
    for (const state of states) assert.isTrue(final.startsWith(state), `${JSON.stringify(state)} is a prefix of the answer`)
    assert.isBelow(states[0]!.length, final.length / 2)

    assert.strictEqual(await turn.locator("details.reasoning").count(), 1)
    assert.isFalse(await turn.locator("details.reasoning").evaluate((details: HTMLDetailsElement) => details.open), "reasoning folds when the turn ends")
    assert.match(await turn.locator(".usage").textContent() ?? "", /^[\d,]+ prompt \+ [\d,]+ completion = [\d,]+ tokens · 1 step$/)

    const second = await send(page, "and a second message")
    assert.include(await second.locator(".text").textContent(), `Before that you said: "${first}".`)

    await page.click("#new-chat")
    assert.strictEqual(await page.locator(".turn").count(), 0)
    const fresh = await send(page, "after a new chat")
    assert.include(await fresh.locator(".text").textContent(), "This is the start of our conversation.")
  })

  it("shows a tool call as a block with its arguments and result", async () => {
    const page = await server.openChat()
    const turn = await send(page, "search for effect streams")
    const tool = turn.locator("details.tool")
    assert.strictEqual(await tool.count(), 1)
    assert.strictEqual(await tool.locator("summary").textContent(), "Tool call: web_search")
    assert.isFalse(await tool.evaluate((details: HTMLDetailsElement) => details.open), "tool blocks start folded")
    await tool.locator("summary").click()
    assert.deepStrictEqual(JSON.parse(await tool.locator(".arguments").textContent() ?? ""), { query: "effect streams" })
    const expected = await server.runtime.runPromise(answerOf("search for effect streams"))
    assert.deepStrictEqual([await tool.locator(".result").textContent()], expected.toolOutput)
    assert.include(await tool.getAttribute("class"), "success")
    // the block comes before the answer it led to
    const order = await turn.evaluate((root) => Array.from(root.children, (child) => child.className))
    assert.isBelow(order.indexOf("tool success"), order.indexOf("text"))
    assert.include(await turn.locator(".text").textContent(), "found 3 results")
    assert.match(await turn.locator(".usage").textContent() ?? "", /· 2 steps$/)

    const file = `${artifacts}page-tool-call.png`
    await page.screenshot({ path: file, fullPage: true })
    assert.isAbove(statSync(file).size, 10_000)
  })

  it("stops a turn that is waiting for the agent, the upstream Letta stream closes, and the chat goes on", async () => {
    const page = await server.openChat()
    const before = await server.runtime.runPromise(emulatorStats)
    // the emulator stays silent on this turn
    await page.fill("#input", "[[fault:stall]] a turn that never ends")
    await page.press("#input", "Enter")
    const turn = page.locator(".turn").last()
    assert.strictEqual(await turn.locator(".status").textContent(), "Waiting for the agent…")
    await page.locator("#stop").waitFor()
    assert.isTrue(await page.locator("#send").isHidden())
    await page.click("#stop")

    await turn.and(page.locator("[aria-busy=false]")).waitFor()
    assert.strictEqual(await turn.locator(".notice").textContent(), "Stopped.")
    assert.strictEqual(await turn.locator(".error").count(), 0)
    assert.strictEqual(await turn.locator(".status").textContent(), "")
    await upstreamClosed(server.runtime, before)

    assert.isTrue(await page.locator("#send").isVisible())
    const next = await send(page, "still there?")
    assert.include(await next.locator(".text").textContent(), "You said: \"still there?\"")
  })

  it("shows a failed turn inline, and the chat goes on", async () => {
    const page = await server.openChat()
    const failed = await send(page, "[[fault:status:500]] please fail")
    const error = failed.locator(".error[role=alert]")
    assert.include(await error.textContent(), "Letta server error")
    assert.include(await error.textContent(), "HTTP 500")
    const next = await send(page, "and now?")
    assert.include(await next.locator(".text").textContent(), "You said: \"and now?\"")
    assert.strictEqual(await next.locator(".error").count(), 0)
  })
})

describe("the chat page with a slow agent", () => {
  const server = withServer(serverLayer({ emulator: { tokenDelay: Duration.millis(150) } }))

  it("stops a turn in the middle of its stream: the text stops growing and the upstream Letta stream closes", async () => {
    const page = await server.openChat()
    const before = await server.runtime.runPromise(emulatorStats)
    await page.fill("#input", "tell me something long")
    await page.press("#input", "Enter")
    const turn = page.locator(".turn").last()
    const reasoning = turn.locator("details.reasoning .body")
    await page.waitForFunction(() => (document.querySelector(".turn:last-of-type details.reasoning .body")?.textContent ?? "").length >= 8)
    await page.screenshot({ path: `${artifacts}page-streaming.png` })
    await page.click("#stop")
    await turn.and(page.locator("[aria-busy=false]")).waitFor()
    const stoppedAt = await reasoning.textContent() ?? ""
    assert.strictEqual(await turn.locator(".notice").textContent(), "Stopped.")
    await upstreamClosed(server.runtime, before)
    // nothing arrives after the stop
    assert.strictEqual(await reasoning.textContent(), stoppedAt)
    assert.strictEqual(await turn.locator(".text").count(), 0)
  })
})

describe("the chat page when Letta is down", () => {
  const server = withServer(
    serverLayer({ letta: { baseUrl: "http://127.0.0.1:9" } }),
    /^Failed to load resource: the server responded with a status of 502/
  )

  it("says why there are no agents, and sends nothing", async () => {
    const page = await server.open()
    const error = page.locator("#log .error")
    await error.waitFor()
    assert.match(await error.textContent() ?? "", /^Cannot list the agents: Cannot reach Letta/)
    assert.isTrue(await page.locator("#send").isDisabled())
    assert.deepStrictEqual(await page.locator("#agent option").allTextContents(), ["Unavailable"])
  })
})

describe("the chat page with PIPELINE_API_KEY set", () => {
  const key = "page-test-key"
  const server = withServer(
    serverLayer({ server: { apiKey: Option.some(Redacted.make(key)) } }),
    /^Failed to load resource: the server responded with a status of 401/
  )

  it("asks for the key, refuses a wrong one, and chats with the right one", async () => {
    const page = await server.open()
    await page.locator("#key-form").waitFor()
    assert.isTrue(await page.locator("#agent").isDisabled())
    await page.fill("#key", "wrong")
    await page.click("#key-form button")
    await page.waitForFunction(() => (document.getElementById("key") as HTMLInputElement).validationMessage !== "")
    assert.strictEqual(await page.locator("#key").evaluate((input: HTMLInputElement) => input.validationMessage), "Invalid API key")
    assert.isTrue(await page.locator("#key-form").isVisible())

    await page.fill("#key", key)
    await page.click("#key-form button")
    await page.locator("#key-form").waitFor({ state: "hidden" })
    await page.locator("#send:not([disabled])").waitFor()
    const turn = await send(page, "with a key")
    assert.include(await turn.locator(".text").textContent(), "You said: \"with a key\"")
  })
})
