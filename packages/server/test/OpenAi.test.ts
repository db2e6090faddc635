/**
 * The OpenAI-compatible surface: the official `openai` client and the Vercel AI SDK as real clients, and the raw
 * chunks Open WebUI renders.
 */
import { createOpenAICompatible } from "@ai-sdk/openai-compatible"
import { assert, describe, layer } from "@effect/vitest"
import { generateText, streamText } from "ai"
import { Duration, Effect } from "effect"
import OpenAI from "openai"
import { call, chat, contentOf, dataLines, demoAgent, fields, json, serverLayer, serverUrl } from "./utils/harness.js"

const openai = Effect.map(serverUrl, (url) => new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 }))

const chunksOf = (text: string) => dataLines(text).filter((line) => line !== "[DONE]")
const choice = (chunk: unknown) => fields((fields(chunk).choices as ReadonlyArray<unknown> | undefined)?.[0])
const delta = (chunk: unknown) => fields(choice(chunk).delta)

layer(serverLayer(), { excludeTestServices: true })("OpenAI-compatible API", (it) => {
  describe("the official openai client", () => {
    it.effect("lists the agents as models", () =>
      Effect.gen(function*() {
        const client = yield* openai
        const agent = yield* demoAgent
        const page = yield* Effect.promise(() => client.models.list())
        const model = page.data.find((m) => m.id === agent.id)
        assert.isDefined(model)
        assert.strictEqual(model?.owned_by, "letta")
        assert.strictEqual(fields(model).name, "demo-agent")
      }))

    it.effect("a non-streaming completion carries the answer, the reasoning and the usage", () =>
      Effect.gen(function*() {
        const client = yield* openai
        const agent = yield* demoAgent
        const completion = yield* Effect.promise(() =>
          client.chat.completions.create({ model: agent.id, messages: [{ role: "user", content: "Hello openai" }] })
        )
        const message = completion.choices[0]?.message
        assert.include(message?.content ?? "", "You said: \"Hello openai\"")
        assert.include(String(fields(message).reasoning_content), "The user said \"Hello openai\"")
        assert.strictEqual(completion.choices[0]?.finish_reason, "stop")
        assert.isAbove(completion.usage?.total_tokens ?? 0, 1000)
        assert.match(completion.id, /^chatcmpl-/)
      }))

    it.effect("a streamed completion: reasoning deltas, content deltas, finish reason, then usage when asked", () =>
      Effect.gen(function*() {
        const client = yield* openai
        const agent = yield* demoAgent
        const stream = yield* Effect.promise(() =>
          client.chat.completions.create({
            model: agent.id,
            stream: true,
            stream_options: { include_usage: true },
            messages: [{ role: "user", content: "Stream to me" }]
          })
        )
        const chunks = yield* Effect.promise(async () => {
          const all = []
          for await (const chunk of stream) all.push(chunk)
          return all
        })
        const content = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")
        const reasoning = chunks.map((c) => String(fields(c.choices[0]?.delta).reasoning_content ?? "")).join("")
        assert.include(content, "You said: \"Stream to me\"")
        assert.include(reasoning, "The user said \"Stream to me\"")
        assert.strictEqual(chunks[0]?.choices[0]?.delta.role, "assistant")
        const finish = chunks.find((c) => c.choices[0]?.finish_reason !== null && c.choices[0]?.finish_reason !== undefined)
        assert.strictEqual(finish?.choices[0]?.finish_reason, "stop")
        const last = chunks.at(-1)
        assert.deepStrictEqual(last?.choices, [])
        assert.isAbove(last?.usage?.completion_tokens ?? 0, 0)
        assert.strictEqual(new Set(chunks.map((c) => c.id)).size, 1)
      }))

    it.effect("an unknown model is a 404 with OpenAI's error body", () =>
      Effect.gen(function*() {
        const client = yield* openai
        const error = yield* Effect.flip(Effect.tryPromise(() =>
          client.chat.completions.create({ model: "no-such-agent", messages: [{ role: "user", content: "x" }] })
        ))
        assert.instanceOf(error.error, OpenAI.NotFoundError)
        if (error.error instanceof OpenAI.NotFoundError) {
          assert.strictEqual(error.error.code, "model_not_found")
          assert.include(error.error.message, "no-such-agent")
        }
      }))

    it.effect("a model may also be the agent's name", () =>
      Effect.gen(function*() {
        const client = yield* openai
        const completion = yield* Effect.promise(() =>
          client.chat.completions.create({ model: "demo-agent", messages: [{ role: "user", content: "by name" }] })
        )
        assert.include(completion.choices[0]?.message.content ?? "", "You said: \"by name\"")
      }))
  })

  describe("the Vercel AI SDK", () => {
    const provider = Effect.map(serverUrl, (url) => createOpenAICompatible({ name: "letta", baseURL: `${url}/v1`, apiKey: "unused" }))

    it.effect("generateText", () =>
      Effect.gen(function*() {
        const letta = yield* provider
        const agent = yield* demoAgent
        const result = yield* Effect.promise(() => generateText({ model: letta(agent.id), prompt: "Hello AI SDK" }))
        assert.include(result.text, "You said: \"Hello AI SDK\"")
        assert.include(result.reasoningText ?? "", "The user said")
        assert.strictEqual(result.finishReason, "stop")
      }))

    it.effect("streamText, with a tool turn rendered into the text as readable lines", () =>
      Effect.gen(function*() {
        const letta = yield* provider
        const agent = yield* demoAgent
        const result = streamText({ model: letta(agent.id), prompt: "Please search for effect streams" })
        const text = yield* Effect.promise(() => result.text)
        assert.include(text, "→ `web_search({\"query\":\"effect streams\"})`  \n← `web_search: Found 3 results")
        assert.notInclude(text, "<details")
        assert.include(text, "I searched for \"effect streams\"")
        assert.strictEqual(yield* Effect.promise(() => result.finishReason), "stop")
      }))
  })

  describe("what Open WebUI renders", () => {
    it.effect("through Open WebUI, tool calls as its own output items (function_call, function_call_output) in order; the details valve brings back blocks", () =>
      Effect.gen(function*() {
        const body = yield* chat("search for open webui items", { stream: true })
        const headers = { "x-openwebui-chat-id": "chat-items" }
        const raw = yield* call("POST", "/v1/chat/completions", { body, headers })
        const lines = chunksOf(raw.text).map(fields)
        const kinds = lines.map((line) =>
          line.type === "response.output_item.added"
            ? String(fields(line.item).type)
            : delta(line).reasoning_content ? "reasoning" : delta(line).content ? "content" : null
        ).filter((kind) => kind !== null).filter((kind, i, all) => kind !== all[i - 1])
        assert.deepStrictEqual(kinds, ["reasoning", "function_call", "function_call_output", "reasoning", "content"])
        const [callItem, outputItem] = lines.filter((line) => line.type === "response.output_item.added").map((line) => fields(line.item))
        assert.strictEqual(callItem?.name, "web_search")
        assert.strictEqual(callItem?.call_id, outputItem?.call_id)
        assert.notInclude(contentOf(chunksOf(raw.text)), "<details")
        // the reasoning after the call starts a new item in Open WebUI: no separator before it
        const afterCall = lines.slice(lines.findIndex((line) => line.type !== undefined)).map((line) => String(delta(line).reasoning_content ?? "")).join("")
        assert.isTrue(afterCall.startsWith("web_search returned"), afterCall)
        // a usage chunk although Open WebUI did not ask: it stores usage whenever it gets it
        assert.isTrue(lines.some((line) => line.usage !== undefined))

        const valves = json(yield* call("GET", "/letta/valves"))
        yield* call("POST", "/letta/valves/update", { body: { ...valves, openwebui_tool_calls: "details" } })
        const blocks = yield* call("POST", "/v1/chat/completions", { body, headers })
        yield* call("POST", "/letta/valves/update", { body: valves })
        assert.include(contentOf(chunksOf(blocks.text)), "<details type=\"tool_calls\"")
        assert.isFalse(chunksOf(blocks.text).some((line) => fields(line).type !== undefined))
      }))

    it.effect("status event chunks for Open WebUI (its headers), none for other clients by default", () =>
      Effect.gen(function*() {
        const body = yield* chat("search for status", { stream: true })
        const owui = yield* call("POST", "/v1/chat/completions", { body, headers: { "x-openwebui-chat-id": "status-chat" } })
        const events = chunksOf(owui.text).filter((c) => "event" in fields(c)).map((c) => fields(fields(c).event))
        assert.deepStrictEqual(events.map((e) => e.type), ["status", "status"])
        assert.deepStrictEqual(fields(events[0]?.data), { description: "Running web_search…", done: false, hidden: false })
        assert.strictEqual(fields(events[1]?.data).done, true)
        const plain = yield* call("POST", "/v1/chat/completions", { body })
        assert.isFalse(chunksOf(plain.text).some((c) => "event" in fields(c)))
      }))

    it.effect("no usage chunk unless stream_options.include_usage; [DONE] ends every stream", () =>
      Effect.gen(function*() {
        const body = yield* chat("no usage", { stream: true })
        const answer = yield* call("POST", "/v1/chat/completions", { body })
        const lines = dataLines(answer.text)
        assert.strictEqual(lines.at(-1), "[DONE]")
        assert.isFalse(chunksOf(answer.text).some((c) => "usage" in fields(c)))
        assert.strictEqual(answer.headers["content-type"], "text/event-stream")
      }))
  })

  describe("errors", () => {
    it.effect("before the headers: an HTTP status with OpenAI's error body", () =>
      Effect.gen(function*() {
        const body = yield* chat("hello [[fault:status:503]]", { stream: true })
        const answer = yield* call("POST", "/v1/chat/completions", { body })
        assert.strictEqual(answer.status, 502)
        const error = fields(json(answer).error)
        assert.strictEqual(error.type, "upstream_error")
        assert.include(String(error.message), "HTTP 503")
        const missing = yield* call("POST", "/v1/chat/completions", {
          body: { model: "agent-00000000-0000-4000-8000-000000000000", stream: true, messages: [{ role: "user", content: "x" }] }
        })
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(fields(json(missing).error).code, "model_not_found")
      }))

    it.effect("after the headers: an {error} chunk, then [DONE]", () =>
      Effect.gen(function*() {
        const body = yield* chat("hello [[fault:llm-error]]", { stream: true })
        const answer = yield* call("POST", "/v1/chat/completions", { body })
        assert.strictEqual(answer.status, 200)
        const lines = dataLines(answer.text)
        assert.strictEqual(lines.at(-1), "[DONE]")
        const error = fields(fields(lines.at(-2)).error)
        assert.strictEqual(error.code, "StreamError")
        // the cause in words; Letta's own text (which can hold anything) stays in the log
        assert.include(String(error.message), "the call to the model provider failed")
        assert.notInclude(String(error.message), "Emulated LLM failure")
        assert.isAbove(chunksOf(answer.text).filter((c) => "reasoning_content" in delta(c)).length, 0)
      }))

    it.effect("bad requests are 400s naming the problem", () =>
      Effect.gen(function*() {
        const notJson = yield* call("POST", "/v1/chat/completions", { body: "{nope" })
        assert.strictEqual(notJson.status, 400)
        assert.strictEqual(fields(json(notJson).error).code, "invalid_json")
        const wrongType = yield* call("POST", "/v1/chat/completions", { body: { model: 42, messages: "hi" } })
        assert.strictEqual(wrongType.status, 400)
        assert.include(String(fields(json(wrongType).error).message), "model")
        assert.include(String(fields(json(wrongType).error).message), "messages")
        const noMessages = yield* call("POST", "/v1/chat/completions", { body: { model: "demo-agent", messages: [] } })
        assert.strictEqual(noMessages.status, 400)
      }))
  })
})

// clients that draw Open WebUI's markup themselves ask for its blocks by setting
layer(serverLayer({ server: { toolCalls: "details" } }), { excludeTestServices: true })("OpenAI-compatible API, details blocks", (it) => {
  it.effect("PIPELINE_TOOL_CALLS=details: tool call and result as one HTML-escaped <details type=\"tool_calls\"> block at a line start, never delta.tool_calls", () =>
    Effect.gen(function*() {
      const body = yield* chat("search for <b>\"quotes\" & 'apostrophes'</b>", { stream: true })
      const answer = yield* call("POST", "/v1/chat/completions", { body })
      const chunks = chunksOf(answer.text)
      assert.isFalse(chunks.some((c) => "tool_calls" in delta(c)))
      const content = contentOf(chunks)
      const block = /\n?<details type="tool_calls" done="true" id="([^"]+)" name="web_search" arguments="([^"]*)" result="([^"]*)" files="" embeds="">\n<summary>Tool Executed<\/summary>\n<\/details>\n/
        .exec(content)
      assert.isNotNull(block)
      const unescape = (s: string) =>
        s.replace(/&quot;/g, "\"").replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&")
      assert.deepStrictEqual(JSON.parse(unescape(block?.[2] ?? "")), { query: "<b>\"quotes\" & 'apostrophes'</b>" })
      assert.include(JSON.parse(unescape(block?.[3] ?? "")), "Found 3 results")
      assert.notInclude(block?.[2] ?? "", "\"")
      assert.notInclude(block?.[3] ?? "", "<")
    }))
})

// Letta silent for 3 s, then the connect timeout (1 s) fails the turn: past PIPELINE_FIRST_EVENT_WAIT (200 ms) the
// answer has started with a 200 and heartbeats, so the failure arrives as its error chunk
layer(serverLayer({
  emulator: { firstByteDelay: Duration.seconds(3) },
  letta: { timeouts: { connect: Duration.seconds(1) } },
  server: { firstEventWait: Duration.millis(200), heartbeat: Duration.millis(100) }
}), { excludeTestServices: true })("OpenAI-compatible API, a failure after the first-event wait", (it) => {
  it.effect("the response starts once the wait is over (200, heartbeats); the later failure is an {error} chunk, then [DONE]", () =>
    Effect.gen(function*() {
      const body = yield* chat("hello [[fault:slow-first-byte]]", { stream: true })
      const answer = yield* call("POST", "/v1/chat/completions", { body })
      assert.strictEqual(answer.status, 200)
      assert.include(answer.text, ": ping")
      const lines = dataLines(answer.text)
      assert.strictEqual(lines.at(-1), "[DONE]")
      const error = fields(fields(lines.at(-2)).error)
      assert.include(String(error.message), "did not answer in time")
    }))
})
