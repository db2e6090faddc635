/**
 * The failures people hit with Letta behind Open WebUI and OpenAI clients, each on the surfaces it reaches: runs that
 * fail only by their stop reason, tool calls that never get their return, frames the bridge does not need, Open
 * WebUI's detection and background tasks (with Open WebUI's own templates), lines past Open WebUI's read limit, chats
 * whose Letta conversation is gone, and reasoning that ran together.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Emulator } from "@letta-pipeline/emulator"
import { Effect } from "effect"
import OpenAI from "openai"
import { ConversationStore, OpenAi } from "../src/index.js"
import { type Answer, call, chat, contentOf, dataLines, demoAgent, emulatorStats, fields, json, serverLayer, serverUrl } from "./utils/harness.js"
import { fillTemplate, taskTemplates } from "./utils/openwebui.js"

const openai = Effect.map(serverUrl, (url) => new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 }))

const chunksOf = (text: string) => dataLines(text).filter((line) => line !== "[DONE]")
const choice = (chunk: unknown) => fields((fields(chunk).choices as ReadonlyArray<unknown> | undefined)?.[0])
const reasoningOf = (text: string) => chunksOf(text).map((c) => String(fields(choice(c).delta).reasoning_content ?? "")).join("")
const statusesOf = (text: string) =>
  chunksOf(text).flatMap((c) => {
    const event = fields(fields(c).event)
    return event.type === "status" ? [fields(event.data)] : []
  })

/** Native SSE events: `event:` name and parsed `data:`. */
const eventsOf = (answer: Answer) =>
  answer.text.split("\n\n").filter((block) => block.includes("data: ")).map((block) => {
    const lines = block.split("\n")
    return {
      event: lines.find((l) => l.startsWith("event: "))?.slice(7) ?? "message",
      data: fields(JSON.parse(lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n")))
    }
  })

/** Every status that opened is closed by a later `done: true`. */
/**
 * A 190 KB tool result and a 100 KB answer (the emulator's `huge-output` fault), streamed: every line within Open
 * WebUI's read limit, the answer whole. The request's body and the content of the stream.
 */
const hugeTurn = Effect.gen(function*() {
  const body = yield* chat("search for everything [[fault:huge-output]]", { stream: true })
  const raw = yield* call("POST", "/v1/chat/completions", { body })
  const longest = Math.max(...raw.text.split("\n").map((line) => Buffer.byteLength(line) + 1))
  assert.isAtMost(longest, OpenAi.maxLineBytes)
  const content = contentOf(chunksOf(raw.text))
  const answer = content.slice(content.indexOf("Answer line 00001"))
  assert.isAbove(Buffer.byteLength(answer), 100_000)
  assert.include(answer, "Answer line 00001: \"quoted\" <tag> & café ☕ 🚀")
  return { body, content }
})

const allClosed = (statuses: ReadonlyArray<Readonly<Record<string, unknown>>>) => {
  const lastOpen = statuses.findLastIndex((s) => s.done === false)
  return lastOpen === -1 || statuses.slice(lastOpen + 1).some((s) => s.done === true)
}

/** Streams with the official client; the content it assembled and the error it threw, if any. */
const streamWithClient = (params: Record<string, unknown>, headers: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const client = yield* openai
    return yield* Effect.promise(async () => {
      let content = ""
      const chunks: Array<unknown> = []
      try {
        const stream = await client.chat.completions.create(
          { ...params, stream: true } as OpenAI.ChatCompletionCreateParamsStreaming,
          { headers }
        )
        for await (const chunk of stream) {
          chunks.push(chunk)
          content += chunk.choices[0]?.delta.content ?? ""
        }
        return { content, chunks, error: undefined }
      } catch (error) {
        return { content, chunks, error }
      }
    })
  })

layer(serverLayer(), { excludeTestServices: true })("hardening", (it) => {
  describe("a run that fails only by its stop reason", () => {
    it.effect("OpenAI stream: the text so far, an error chunk naming the stop reason, [DONE]; the official client throws", () =>
      Effect.gen(function*() {
        const body = yield* chat("Hello [[fault:stop:llm_api_error]]", { stream: true })
        const raw = yield* call("POST", "/v1/chat/completions", { body })
        assert.strictEqual(raw.status, 200)
        const lines = dataLines(raw.text)
        assert.strictEqual(lines.at(-1), "[DONE]")
        const error = fields(fields(lines.at(-2)).error)
        assert.strictEqual(error.code, "RunFailed")
        assert.include(String(error.message), "stop reason llm_api_error")
        assert.include(contentOf(chunksOf(raw.text)), "You said: \"Hello\"")
        assert.isFalse(chunksOf(raw.text).some((c) => choice(c).finish_reason === "stop"))

        const viaClient = yield* streamWithClient(body)
        assert.include(viaClient.content, "You said: \"Hello\"")
        assert.instanceOf(viaClient.error, OpenAI.APIError)
        assert.include(String(fields(viaClient.error).message), "llm_api_error")
      }))

    it.effect("OpenAI JSON: 502 with the reason; native SSE: the events so far, then an error event", () =>
      Effect.gen(function*() {
        const json502 = yield* call("POST", "/v1/chat/completions", { body: yield* chat("Hi [[fault:stop:no_tool_call]]") })
        assert.strictEqual(json502.status, 502)
        const error = fields(json(json502).error)
        assert.strictEqual(error.code, "RunFailed")
        assert.include(String(error.message), "did not call a tool")
        assert.include(String(error.message), "stop reason no_tool_call")

        const native = eventsOf(yield* call("POST", "/v1/pipe", { body: yield* chat("Hi [[fault:stop:insufficient_credits]]") }))
        assert.includeMembers(native.map((e) => e.event), ["reasoning", "message"])
        const last = native.at(-1)
        assert.strictEqual(last?.event, "error")
        assert.strictEqual(fields(last?.data.data).reason, "RunFailed")
        assert.include(String(fields(last?.data.data).message), "no credits left")
      }))
  })

  describe("a tool call that never gets its return", () => {
    it.effect("max_steps after the call: the call is shown as not run, every status is closed, finish_reason length", () =>
      Effect.gen(function*() {
        const body = yield* chat("search for lisbon [[fault:stop:max_steps]]", { stream: true })
        const raw = yield* call("POST", "/v1/chat/completions", { body, headers: { "x-openwebui-chat-id": "chat-max-steps" } })
        const statuses = statusesOf(raw.text)
        assert.isTrue(statuses.some((s) => s.done === false && String(s.description).startsWith("Running web_search")))
        assert.isTrue(allClosed(statuses), JSON.stringify(statuses))
        // through Open WebUI: its own tool-call items, the output marked failed
        const items = dataLines(raw.text).map(fields).filter((line) => line.type === "response.output_item.added").map((line) => fields(line.item))
        assert.deepStrictEqual(items.map((item) => [item.type, item.name ?? null, item.status]), [
          ["function_call", "web_search", "completed"],
          ["function_call_output", null, "failed"]
        ])
        assert.include(JSON.stringify(items[1]?.output), "Not run: the turn ended before Letta returned a result (stop reason max_steps)")
        assert.isTrue(chunksOf(raw.text).some((c) => choice(c).finish_reason === "length"))
        // any other client: the call and its result as lines in the content
        const plain = contentOf(chunksOf((yield* call("POST", "/v1/chat/completions", { body })).text))
        assert.include(plain, "→ `web_search({\"query\":\"lisbon\"})`  \n")
        assert.include(plain, "← `web_search: Not run: the turn ended before Letta returned a result (stop reason max_steps)`")

        const native = eventsOf(yield* call("POST", "/v1/pipe", { body: yield* chat("search for lisbon [[fault:stop:max_steps]]") }))
        const result = native.find((e) => e.event === "tool_result")
        assert.strictEqual(fields(result?.data.data).status, "not_run")
        assert.isTrue(allClosed(native.filter((e) => e.event === "status").map((e) => fields(e.data.data))))
        assert.strictEqual(native.at(-1)?.event, "done")
      }))
  })

  describe("frames the bridge does not need", () => {
    it.effect("a ping without id or date, a malformed user echo, odd unread fields: the turn completes everywhere", () =>
      Effect.gen(function*() {
        const content = "Hello [[fault:odd-frames]]"
        const viaClient = yield* streamWithClient(yield* chat(content))
        assert.isUndefined(viaClient.error)
        assert.include(viaClient.content, "You said: \"Hello\"")
        const completion = yield* call("POST", "/v1/chat/completions", { body: yield* chat(content) })
        assert.strictEqual(completion.status, 200)
        const native = eventsOf(yield* call("POST", "/v1/pipe", { body: yield* chat(content) }))
        assert.strictEqual(native.at(-1)?.event, "done")
        assert.isFalse(native.some((e) => e.event === "error"))
      }))
  })

  describe("Open WebUI's extensions go to Open WebUI only", () => {
    it.effect("OpenAI's own metadata field or an aiohttp User-Agent: no chunk without choices; the official client streams", () =>
      Effect.gen(function*() {
        const body = yield* chat("search for effect streams", { stream: true, metadata: { purpose: "eval", user: "u-1" } })
        const raw = yield* call("POST", "/v1/chat/completions", { body, headers: { "user-agent": "Python/3.11 aiohttp/3.12.15" } })
        assert.isTrue(chunksOf(raw.text).every((c) => Array.isArray(fields(c).choices)), raw.text.slice(0, 500))
        const viaClient = yield* streamWithClient(body)
        assert.isUndefined(viaClient.error)
        assert.include(viaClient.content, "I searched for \"effect streams\"")
        assert.isTrue(viaClient.chunks.every((c) => Array.isArray(fields(c).choices)))
      }))

    it.effect("Open WebUI's forwarded headers, or the Pipelines inlet's marker, get status events", () =>
      Effect.gen(function*() {
        const agent = yield* demoAgent
        const body = yield* chat("search for effect streams", { stream: true })
        const withHeader = yield* call("POST", "/v1/chat/completions", { body, headers: { "x-openwebui-user-id": "u-1" } })
        assert.isAbove(statusesOf(withHeader.text).length, 0)
        const inlet = yield* call("POST", `/${agent.id}/filter/inlet`, {
          body: { body: { ...body, metadata: { chat_id: null, message_id: "m-1" } }, user: { id: "u-1", role: "user" } }
        })
        assert.strictEqual(json(inlet).openwebui, true)
        const marked = yield* call("POST", "/v1/chat/completions", { body: json(inlet) })
        assert.isAbove(statusesOf(marked.text).length, 0)
      }))
  })

  describe("Open WebUI's background tasks never reach the agent", () => {
    const history = [
      { role: "user", content: "Plan a weekend in Lisbon" },
      { role: "assistant", content: "Day one: Alfama and the castle." }
    ]
    const templates = taskTemplates()
    // the templates Open WebUI sends to the chat model (emoji and MoA prompts carry their task in metadata or header)
    const cases: ReadonlyArray<readonly [string, string, (answer: unknown) => boolean]> = [
      ["DEFAULT_TITLE_GENERATION_PROMPT_TEMPLATE", "title", (a) => typeof fields(a).title === "string"],
      ["DEFAULT_TAGS_GENERATION_PROMPT_TEMPLATE", "tags", (a) => Array.isArray(fields(a).tags)],
      ["DEFAULT_FOLLOW_UP_GENERATION_PROMPT_TEMPLATE", "follow_ups", (a) => Array.isArray(fields(a).follow_ups)],
      ["DEFAULT_QUERY_GENERATION_PROMPT_TEMPLATE", "queries", (a) => Array.isArray(fields(a).queries)],
      ["DEFAULT_AUTOCOMPLETE_GENERATION_PROMPT_TEMPLATE", "text", (a) => typeof fields(a).text === "string"]
    ]

    it.effect("each default template, after a workspace model's system prompt, is answered here with the JSON it asks for", () =>
      Effect.gen(function*() {
        const agent = yield* demoAgent
        const before = yield* emulatorStats
        for (const [name, key, valid] of cases) {
          const template = templates[name]
          assert.isDefined(template, `Open WebUI has no ${name}`)
          const prompt = fillTemplate(template ?? "", history)
          const answer = yield* call("POST", "/v1/chat/completions", {
            body: {
              model: agent.id,
              stream: false,
              messages: [{ role: "system", content: "You are Milo, a travel planner." }, { role: "user", content: prompt }]
            }
          })
          assert.strictEqual(answer.status, 200, name)
          const content = String(fields(fields(choice(json(answer))).message).content)
          const parsed: unknown = JSON.parse(content.slice(content.indexOf("{"), content.lastIndexOf("}") + 1))
          assert.isTrue(valid(parsed), `${name} (${key}): ${content}`)
        }
        const after = yield* emulatorStats
        assert.strictEqual(after.total_streams, before.total_streams)
        assert.deepStrictEqual(after.requests_by_route, before.requests_by_route)
      }))

    it.effect("a task in a new chat reaches the Pipelines inlet with metadata.chat_id null: its task is kept", () =>
      Effect.gen(function*() {
        const agent = yield* demoAgent
        const before = yield* emulatorStats
        const prompt = fillTemplate(templates.DEFAULT_TITLE_GENERATION_PROMPT_TEMPLATE ?? "", history)
        // what Open WebUI's routers/tasks.py posts to the inlet for a title in a chat that has no id yet
        const inlet = yield* call("POST", `/${agent.id}/filter/inlet`, {
          body: {
            body: {
              model: agent.id,
              messages: [{ role: "user", content: prompt }],
              stream: false,
              metadata: { task: "title_generation", task_body: { chat_id: null }, chat_id: null }
            },
            user: { id: "u-1", email: "u@example.com", name: "U", role: "user" }
          }
        })
        assert.strictEqual(inlet.status, 200)
        const filtered = json(inlet)
        assert.strictEqual(filtered.task, "title_generation")
        assert.isFalse("chat_id" in filtered)
        // Open WebUI then drops metadata before the chat request
        const { metadata: _, ...forwarded } = filtered
        const answer = yield* call("POST", "/v1/chat/completions", { body: forwarded })
        assert.strictEqual(answer.status, 200)
        assert.include(String(fields(fields(choice(json(answer))).message).content), "\"title\"")
        assert.strictEqual((yield* emulatorStats).total_streams, before.total_streams)
      }))
  })

  describe("no line past Open WebUI's read limit", () => {
    it.effect("a 190 KB tool result and a 100 KB answer: every line at most 64 KiB, content whole, the result one line of 200 characters", () =>
      Effect.gen(function*() {
        const { body, content } = yield* hugeTurn
        const result = content.split("\n").find((line) => line.startsWith("←")) ?? ""
        assert.isAtMost([...result].length, "← `web_search: ".length + OpenAi.toolTextMax + "`  ".length)
        assert.isTrue(result.endsWith("…`  "), result)

        // the official client assembles the same content
        const viaClient = yield* streamWithClient(body)
        assert.isUndefined(viaClient.error)
        assert.strictEqual(viaClient.content.slice(0, content.indexOf("Answer line 00001")), content.slice(0, content.indexOf("Answer line 00001")))
      }))

    it.effect("through Open WebUI: the tool-call items fit a line too, cut with a note; the answer stays whole", () =>
      Effect.gen(function*() {
        const body = yield* chat("search for everything [[fault:huge-output]]", { stream: true })
        const raw = yield* call("POST", "/v1/chat/completions", { body, headers: { "x-openwebui-chat-id": "chat-huge" } })
        const longest = Math.max(...raw.text.split("\n").map((line) => Buffer.byteLength(line) + 1))
        assert.isAtMost(longest, OpenAi.maxLineBytes)
        const items = dataLines(raw.text).map(fields).filter((line) => line.type === "response.output_item.added").map((line) => fields(line.item))
        assert.deepStrictEqual(items.map((item) => item.type), ["function_call", "function_call_output"])
        const output = String(fields((items[1]?.output as ReadonlyArray<unknown>)[0]).text)
        assert.include(output, "… [cut: the first 16384 of")
        assert.isAbove(Buffer.byteLength(contentOf(chunksOf(raw.text))), 100_000)
      }))

    it.effect("toolItems: a call and its output as Open WebUI items; whatever the limit, each fits one stream line", () =>
      Effect.sync(() => {
        const call = { id: "call_1", name: "web_search", arguments: "{\"q\":\"x\"}" }
        const [first, second] = OpenAi.toolItems(call, { status: "success", output: "3 results" })
        assert.deepStrictEqual(first, {
          type: "response.output_item.added",
          item: { type: "function_call", id: "fc_call_1", call_id: "call_1", name: "web_search", arguments: "{\"q\":\"x\"}", status: "completed" }
        })
        assert.deepStrictEqual(second, {
          type: "response.output_item.added",
          item: { type: "function_call_output", id: "fco_call_1", call_id: "call_1", output: [{ type: "input_text", text: "3 results" }], status: "completed" }
        })
        assert.strictEqual(OpenAi.toolItems(call, { status: "error", output: "boom" })[1].item.status, "failed")
        assert.strictEqual(OpenAi.toolItems(call, { status: "not_run", output: "Not run" })[1].item.status, "failed")
        assert.strictEqual(OpenAi.toolItems({ ...call, arguments: "" }, { status: "success", output: "" })[0].item.arguments, "{}")
        // control characters take 6 bytes each in JSON: a limit far above the line still gives one line per item
        const hostile = "\u0001".repeat(200_000)
        for (const event of OpenAi.toolItems({ ...call, arguments: hostile }, { status: "success", output: hostile }, 1_000_000)) {
          const line = `data: ${JSON.stringify(event)}\n\n`
          assert.isAtMost(Buffer.byteLength(line), OpenAi.maxLineBytes)
          assert.include(line, "[cut: the first")
        }
      }))

    it.effect("the cut is configurable: PIPELINE_TOOL_RESULT_MAX", () =>
      Effect.sync(() => {
        const block = OpenAi.toolBlock({ id: "c", name: "t", arguments: "{}" }, "x".repeat(5000), 1000)
        assert.include(block, "[cut: the first 1000 of 5000 bytes are shown")
        assert.notInclude(OpenAi.toolBlock({ id: "c", name: "t", arguments: "{}" }, "short", 1000), "[cut")
        // never inside a character: 3-byte characters cut at a whole one
        assert.include(OpenAi.toolBlock({ id: "c", name: "t", arguments: "{}" }, "☕".repeat(1000), 1000), "the first 999 of 3000")
      }))

    it.effect("pieces: each piece's JSON string fits the budget, surrogate pairs stay whole, joined they are the text", () =>
      Effect.sync(() => {
        const text = `${"\u0001\"".repeat(3000)}🚀${"é".repeat(5000)}`
        const parts = OpenAi.pieces(text, 4096)
        assert.strictEqual(parts.join(""), text)
        for (const part of parts) assert.isAtMost(Buffer.byteLength(JSON.stringify(part)) - 2, 4096)
        assert.isTrue(parts.every((part) => !/[\ud800-\udbff]$/.test(part)))
      }))
  })

  describe("a chat whose Letta conversation is gone", () => {
    it.effect("the user is told once, the chat continues in a new conversation, recorded for the next turns", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const store = yield* ConversationStore.ConversationStore
        const agent = yield* demoAgent
        const headers = { "x-openwebui-chat-id": "chat-lost-thread" }
        const first = yield* call("POST", "/v1/chat/completions", { body: yield* chat("First message"), headers })
        assert.strictEqual(first.status, 200)
        const lost = yield* store.getOrCreate(agent.id, "chat-lost-thread", Effect.dieMessage("the chat has a conversation"))
        assert.isTrue(yield* emulator.store.deleteConversation(lost))

        const second = yield* call("POST", "/v1/chat/completions", { body: yield* chat("Second message", { stream: true }), headers })
        const content = contentOf(chunksOf(second.text))
        assert.include(content, "no longer exists in Letta")
        assert.include(content, "You said: \"Second message\"")
        assert.isFalse(chunksOf(second.text).some((c) => "error" in fields(c)))
        const replaced = yield* store.getOrCreate(agent.id, "chat-lost-thread", Effect.dieMessage("the chat has a conversation"))
        assert.notStrictEqual(replaced, lost)

        // once: the next turn continues the new conversation, without the notice
        const third = yield* call("POST", "/v1/chat/completions", { body: yield* chat("Third message"), headers })
        const answer = String(fields(fields(choice(json(third))).message).content)
        assert.notInclude(answer, "no longer exists")
        assert.include(answer, "Before that you said: \"Second message\"")
      }))

    it.effect("a conversation named by the client that is gone is an error that says so, not a bad agent id", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const agent = yield* demoAgent
        const conversation = yield* emulator.store.createConversation(agent.id)
        yield* emulator.store.deleteConversation(conversation.id)
        const native = eventsOf(yield* call("POST", "/v1/pipe", {
          body: { model: agent.id, conversation_id: conversation.id, messages: [{ role: "user", content: "hi" }] }
        }))
        const message = String(fields(native.at(-1)?.data.data).message)
        assert.strictEqual(native.at(-1)?.event, "error")
        assert.include(message, "no longer exists in Letta")
        assert.include(message, conversation.id)
        assert.notInclude(message, "check the agent id")
      }))
  })

  describe("reasoning messages do not run together", () => {
    it.effect("streamed reasoning_content separates consecutive reasoning messages as the non-streaming answer does", () =>
      Effect.gen(function*() {
        const raw = yield* call("POST", "/v1/chat/completions", { body: yield* chat("search for lisbon", { stream: true }) })
        const streamed = reasoningOf(raw.text)
        assert.include(streamed, "I will call web_search.\n\nweb_search returned 3 results")
        const whole = yield* call("POST", "/v1/chat/completions", { body: yield* chat("search for lisbon") })
        assert.strictEqual(String(fields(fields(choice(json(whole))).message).reasoning_content), streamed)
      }))
  })
})

// the blocks of PIPELINE_TOOL_CALLS=details (and of Open WebUI's details valve) fit a line too
layer(serverLayer({ server: { toolCalls: "details" } }), { excludeTestServices: true })("hardening, details blocks", (it) => {
  it.effect("PIPELINE_TOOL_CALLS=details: a 190 KB tool result and a 100 KB answer: every line at most 64 KiB, content whole, the block cut with a note", () =>
    Effect.gen(function*() {
      const { body, content } = yield* hugeTurn
      assert.include(content, "… [cut: the first 16384 of")
      assert.isBelow(Buffer.byteLength(content.slice(0, content.indexOf("Answer line 00001"))), 150_000)

      // the official client assembles the same content (each turn has its own tool call id)
      const viaClient = yield* streamWithClient(body)
      assert.isUndefined(viaClient.error)
      const withoutIds = (text: string) => text.replace(/id="call_[0-9a-f]+"/g, "id")
      assert.isTrue(withoutIds(viaClient.content) === withoutIds(content), "the client's content differs")

      const native = eventsOf(yield* call("POST", "/v1/pipe", { body: yield* chat("search for everything [[fault:huge-output]]") }))
      const result = native.find((e) => e.event === "tool_result")
      assert.isAbove(Buffer.byteLength(String(fields(result?.data.data).output)), 190_000)
    }))
})
