/**
 * The stub LLM the App Server tests run against, through the official `openai` client: the chunk shapes the App
 * Server's stream parser needs (shared/reference/letta-app-server.md §3).
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import OpenAI from "openai"
import { StubLlm } from "../src/index.js"

const tool = { type: "function" as const, function: { name: "Read", parameters: { type: "object" } } }
const toolArguments = JSON.stringify({ file_path: "/work/hello.txt" })

interface Streamed {
  readonly reasoning: string
  readonly contentPieces: ReadonlyArray<string>
  readonly toolCalls: ReadonlyArray<OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta.ToolCall>
  readonly finish: ReadonlyArray<string>
  readonly usage: OpenAI.CompletionUsage | undefined
}

const client = Effect.map(StubLlm.StubLlm, (stub) => new OpenAI({ baseURL: stub.url, apiKey: "sk-stub", maxRetries: 0 }))

const stream = (params: Omit<OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming, "model" | "stream">) =>
  Effect.flatMap(client, (openai) =>
    Effect.promise(async (): Promise<Streamed> => {
      const chunks = await openai.chat.completions.create({ model: "stub-model", stream: true, ...params })
      let reasoning = ""
      const contentPieces: Array<string> = []
      const toolCalls: Array<OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta.ToolCall> = []
      const finish: Array<string> = []
      let usage: OpenAI.CompletionUsage | undefined
      for await (const chunk of chunks) {
        const choice = chunk.choices[0]
        reasoning += (choice?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? ""
        if (typeof choice?.delta.content === "string") contentPieces.push(choice.delta.content)
        toolCalls.push(...(choice?.delta.tool_calls ?? []))
        if (choice?.finish_reason) finish.push(choice.finish_reason)
        usage = chunk.usage ?? usage
      }
      return { reasoning, contentPieces, toolCalls, finish, usage }
    }))

layer(StubLlm.layer({ toolName: "Read", toolArguments }), { excludeTestServices: true })("StubLlm", (it) => {
  it.effect("lists its one model", () =>
    Effect.gen(function*() {
      const openai = yield* client
      const models = yield* Effect.promise(() => openai.models.list())
      assert.deepStrictEqual(models.data.map((model) => model.id), ["stub-model"])
    }))

  it.effect("streams reasoning, then the text in 12-character pieces, one finish_reason, the usage chunk", () =>
    Effect.gen(function*() {
      const said = "Hello Letta, how are you?"
      const streamed = yield* stream({ messages: [{ role: "user", content: said }], stream_options: { include_usage: true } })
      assert.strictEqual(streamed.reasoning, "The user greeted me; I will answer briefly.")
      assert.strictEqual(streamed.contentPieces.join(""), `Hello from the stub LLM! I received ${said.length} characters.`)
      assert.isTrue(streamed.contentPieces.every((piece) => piece.length <= 12))
      assert.isAbove(streamed.contentPieces.length, 1)
      assert.deepStrictEqual(streamed.finish, ["stop"])
      assert.strictEqual(streamed.usage?.total_tokens, streamed.usage ? streamed.usage.prompt_tokens + streamed.usage.completion_tokens : -1)
      const withoutUsage = yield* stream({ messages: [{ role: "user", content: said }] })
      assert.isUndefined(withoutUsage.usage)
    }))

  it.effect("counts only what the user said: the App Server's <system-reminder> blocks are not the message", () =>
    Effect.gen(function*() {
      const streamed = yield* stream({
        messages: [
          { role: "user", content: "<system-reminder>memory: …</system-reminder>Hi" },
          { role: "user", content: "<system-reminder>only a reminder</system-reminder>" }
        ]
      })
      assert.strictEqual(streamed.contentPieces.join(""), "Hello from the stub LLM! I received 2 characters.")
    }))

  it.effect("[[tool]] with the tool offered: one call, finish_reason tool_calls; after its result, the final answer", () =>
    Effect.gen(function*() {
      const asked = { role: "user" as const, content: "read it [[tool]]" }
      const call = yield* stream({ messages: [asked], tools: [tool] })
      assert.deepStrictEqual(call.toolCalls.map((c) => [c.id, c.function?.name, c.function?.arguments]), [
        ["call_stub_1", "Read", toolArguments]
      ])
      assert.deepStrictEqual(call.finish, ["tool_calls"])
      assert.deepStrictEqual(call.contentPieces, [])

      const answered = yield* stream({
        tools: [tool],
        messages: [
          asked,
          { role: "assistant", content: null, tool_calls: [{ id: "call_stub_1", type: "function", function: { name: "Read", arguments: toolArguments } }] },
          { role: "tool", tool_call_id: "call_stub_1", content: "1\thello" }
        ]
      })
      assert.strictEqual(answered.contentPieces.join(""), "Tool result received. Final answer from the stub LLM.")
      // not offered: no call, a plain answer
      const notOffered = yield* stream({ messages: [asked] })
      assert.deepStrictEqual(notOffered.toolCalls, [])
      assert.deepStrictEqual(notOffered.finish, ["stop"])
    }))

  it.effect("[[fail]]: HTTP 400 with an OpenAI error body", () =>
    Effect.gen(function*() {
      const openai = yield* client
      const error = yield* Effect.flip(Effect.tryPromise(() =>
        openai.chat.completions.create({ model: "stub-model", messages: [{ role: "user", content: "please [[fail]]" }] })
      ))
      assert.instanceOf(error.error, OpenAI.APIError)
      if (!(error.error instanceof OpenAI.APIError)) return
      assert.strictEqual(error.error.status, 400)
      assert.include(error.error.message, "stub forced failure")
    }))

  it.effect("answers non-streaming requests with one chat.completion, and records every request body", () =>
    Effect.gen(function*() {
      const openai = yield* client
      const stub = yield* StubLlm.StubLlm
      const before = (yield* stub.requests).length
      const completion = yield* Effect.promise(() =>
        openai.chat.completions.create({ model: "stub-model", messages: [{ role: "user", content: "recorded?" }] })
      )
      assert.strictEqual(completion.choices[0]?.message.content, "Hello from the stub LLM! I received 9 characters.")
      assert.strictEqual(completion.choices[0]?.finish_reason, "stop")
      assert.isDefined(completion.usage)
      const recorded = (yield* stub.requests).slice(before)
      assert.deepStrictEqual(recorded, [{ model: "stub-model", messages: [{ role: "user", content: "recorded?" }] }])
    }))
})
