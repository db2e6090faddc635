/**
 * Plain OpenAI clients get plain answers: with the official `openai` client over the emulator (whose "search for …"
 * makes the demo agent call `web_search`), tool calls come as readable lines by default, not at all with
 * `PIPELINE_TOOL_CALLS=none`, as Open WebUI's blocks with `details`; streamed and whole alike, reasoning always in
 * `reasoning_content`. A request through Open WebUI (its header, or the Pipelines inlet's mark) is unaffected by the
 * setting.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import OpenAI from "openai"
import { call, chat, contentOf, dataLines, demoAgent, fields, type Options, serverLayer, serverUrl } from "./utils/harness.js"

const openai = Effect.map(serverUrl, (url) => new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 }))

/** A streamed turn as the official client reads it: content and reasoning joined, and every chunk as parsed. */
const streamed = (content: string) =>
  Effect.gen(function*() {
    const client = yield* openai
    const agent = yield* demoAgent
    const stream = yield* Effect.promise(() =>
      client.chat.completions.create({ model: agent.id, stream: true, messages: [{ role: "user", content }] })
    )
    const chunks = yield* Effect.promise(async () => {
      const all = []
      for await (const chunk of stream) all.push(chunk)
      return all
    })
    return {
      chunks,
      content: chunks.map((c) => c.choices[0]?.delta.content ?? "").join(""),
      reasoning: chunks.map((c) => String(fields(c.choices[0]?.delta).reasoning_content ?? "")).join("")
    }
  })

/** A whole turn as the official client reads it. */
const whole = (content: string) =>
  Effect.gen(function*() {
    const client = yield* openai
    const agent = yield* demoAgent
    const completion = yield* Effect.promise(() =>
      client.chat.completions.create({ model: agent.id, messages: [{ role: "user", content }] })
    )
    const message = completion.choices[0]?.message
    return { content: message?.content ?? "", reasoning: String(fields(message).reasoning_content ?? "") }
  })

const answerOf = (query: string) => `I searched for "${query}" and found 3 results: Letta documentation, Letta blog, Letta on GitHub.`
const resultOf = (query: string) => `Found 3 results for "${query}": Letta documentation, Letta blog, Letta on GitHub.`

/** What Open WebUI gets whatever `PIPELINE_TOOL_CALLS` says: its own items, status events, no text lines. */
const openWebUIUnchanged = (setting: string) =>
  Effect.gen(function*() {
    const withHeader = yield* call("POST", "/v1/chat/completions", {
      body: yield* chat("search for owui", { stream: true }),
      headers: { "x-openwebui-chat-id": `chat-owui-${setting}` }
    })
    // the Pipelines connection: its inlet marks the body, there is no header
    const viaInlet = yield* call("POST", "/chat/completions", { body: yield* chat("search for inlet", { stream: true, openwebui: true }) })
    for (const answer of [withHeader, viaInlet]) {
      const lines = dataLines(answer.text).map(fields)
      const items = lines.filter((line) => line.type === "response.output_item.added").map((line) => fields(line.item).type)
      assert.deepStrictEqual(items, ["function_call", "function_call_output"])
      assert.isTrue(lines.some((line) => line.event !== undefined), "status events")
      const content = contentOf(lines)
      assert.notInclude(content, "<details")
      assert.notInclude(content, "→")
      assert.notInclude(content, "web_search")
    }
  })

/** A server set up with `options`, its tests named after the setting. */
const withServer = (options: Options) => layer(serverLayer(options), { excludeTestServices: true })

withServer({})("plain OpenAI clients, PIPELINE_TOOL_CALLS unset (text)", (it) => {
  it.effect("streamed: the call's line, the result's line, a blank line, the answer; no markup, no tool_calls, no events", () =>
    Effect.gen(function*() {
      const { chunks, content, reasoning } = yield* streamed("search for effect streams")
      assert.strictEqual(
        content,
        `→ \`web_search({"query":"effect streams"})\`  \n← \`web_search: ${resultOf("effect streams")}\`  \n\n` +
          `${answerOf("effect streams")} This is the start of our conversation.`
      )
      assert.notInclude(content, "<details")
      assert.include(reasoning, "I will call web_search")
      assert.isFalse(chunks.some((c) => c.choices[0]?.delta.tool_calls !== undefined))
      assert.strictEqual(chunks.at(-1)?.choices[0]?.finish_reason, "stop")
      // the call is shown while it runs: its line comes in a chunk of its own, before the result's
      const call = chunks.findIndex((c) => (c.choices[0]?.delta.content ?? "").startsWith("→"))
      const result = chunks.findIndex((c) => (c.choices[0]?.delta.content ?? "").startsWith("←"))
      assert.isTrue(call >= 0 && result > call, `${call} before ${result}`)
    }))

  it.effect("whole: the same lines in message.content, the reasoning in reasoning_content", () =>
    Effect.gen(function*() {
      const { content, reasoning } = yield* whole("search for jasmine tea")
      assert.isTrue(
        content.startsWith(
          `→ \`web_search({"query":"jasmine tea"})\`  \n← \`web_search: ${resultOf("jasmine tea")}\`  \n\n${answerOf("jasmine tea")}`
        ),
        content
      )
      assert.notInclude(content, "<details")
      assert.include(reasoning, "I will call web_search")
    }))

  it.effect("a turn without tools: the answer alone", () =>
    Effect.gen(function*() {
      const { content } = yield* streamed("Hello plain")
      assert.isTrue(content.startsWith("You said: \"Hello plain\""), content)
    }))

  it.effect("an Open WebUI request (X-OpenWebUI-Chat-Id, or the Pipelines inlet's mark) is unchanged: its items and status events", () =>
    openWebUIUnchanged("text"))
})

withServer({ server: { toolCalls: "none" } })("plain OpenAI clients, PIPELINE_TOOL_CALLS=none", (it) => {
  it.effect("streamed and whole: no tool text at all, the answer intact, the reasoning still there", () =>
    Effect.gen(function*() {
      for (const turn of [yield* streamed("search for quiet"), yield* whole("search for quieter")]) {
        assert.notMatch(turn.content, /[→←]|web_search|<details|Found 3 results/)
        assert.match(turn.content, /^I searched for "quiet(er)?" and found 3 results: Letta documentation, Letta blog, Letta on GitHub\./)
        assert.include(turn.reasoning, "I will call web_search")
      }
    }))

  it.effect("an Open WebUI request is unchanged", () => openWebUIUnchanged("none"))
})

withServer({ server: { toolCalls: "details" } })("plain OpenAI clients, PIPELINE_TOOL_CALLS=details", (it) => {
  it.effect("streamed and whole: the call as Open WebUI's <details type=\"tool_calls\"> block, as before", () =>
    Effect.gen(function*() {
      for (const turn of [yield* streamed("search for blocks"), yield* whole("search for more blocks")]) {
        assert.match(turn.content, /^<details type="tool_calls" done="true" id="[^"]+" name="web_search" arguments="[^"]*" result="[^"]*" files="" embeds="">\n<summary>Tool Executed<\/summary>\n<\/details>\n/)
        assert.notInclude(turn.content, "→")
        assert.include(turn.content, "I searched for")
      }
    }))

  it.effect("an Open WebUI request is unchanged", () => openWebUIUnchanged("details"))
})
