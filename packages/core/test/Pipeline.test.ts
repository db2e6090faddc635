import { assert, describe, it } from "@effect/vitest"
import { HttpTransport } from "../src/node.js"
import { Chunk, type ConfigError, Duration, Effect, Either, Fiber, Layer, Logger, Option, Ref, Stream, TestClock } from "effect"
import {
  ChatStream,
  EnvConfig,
  LettaClient,
  LettaConfig,
  LettaError,
  OpenWebUITask,
  Pipeline,
  PipelineHooks,
  StreamEvent
} from "../src/index.js"
import * as Letta from "./utils/letta.js"
import * as Mock from "./utils/MockHttpClient.js"

type Settings = Parameters<typeof Mock.clientLayer>[1]

const pipelineLayer = (respond: Mock.Responder, settings: Settings = {}, hooks = PipelineHooks.layerIdentity) =>
  Pipeline.layer.pipe(Layer.provide(hooks), Layer.provideMerge(Mock.clientLayer(respond, settings)))

const answer = () =>
  Mock.sse([Mock.frames(Letta.ping, Letta.reasoning("Greeting."), Letta.assistant("Hi there!"), Letta.stopReason(), Letta.usage, "[DONE]")])

const transcript = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "What is Letta?" },
  { role: "assistant", content: "A stateful agent server." },
  { role: "user", content: "And what does it remember?" }
]

const pipe = (request: Parameters<Pipeline.Service["pipe"]>[0]) =>
  Effect.flatMap(Pipeline.Pipeline, (pipeline) => Stream.runCollect(pipeline.pipe(request))).pipe(
    Effect.map(Chunk.toReadonlyArray)
  )

const sentBodies = Effect.map(Mock.recorded, (all) => all.map((r) => ({ url: r.url, body: r.body === "" ? undefined : JSON.parse(r.body) })))

describe("Pipeline.pipe", () => {
  it.effect("sends only the newest user message, as content, to the agent named by the model", () =>
    Effect.gen(function*() {
      const events = yield* pipe({ model: Letta.agentId, messages: transcript, body: { stream: true } })
      assert.deepStrictEqual(events.map((e) => e.type), ["reasoning", "message", "usage", "done"])
      const [sent] = yield* sentBodies
      assert.strictEqual(sent?.url, `/v1/agents/${Letta.agentId}/messages/stream`)
      assert.deepStrictEqual(sent?.body, {
        messages: [{ role: "user", content: "And what does it remember?" }],
        stream_tokens: true,
        include_pings: true
      })
    }).pipe(Effect.provide(pipelineLayer(answer))))

  it.effect("uses LETTA_AGENT_ID when the request names no model, and honours token streaming off", () =>
    Effect.gen(function*() {
      yield* pipe({ messages: transcript, body: {} })
      yield* pipe({ messages: transcript, body: {}, streamTokens: true })
      const [sent, overridden] = yield* sentBodies
      assert.strictEqual(sent?.url, `/v1/agents/${Letta.agentId}/messages/stream`)
      assert.strictEqual(sent?.body.stream_tokens, false)
      assert.strictEqual(overridden?.body.stream_tokens, true)
    }).pipe(Effect.provide(pipelineLayer(answer, { agentId: Option.some(Letta.agentId), streamTokens: false }))))

  it.effect("an explicit userMessage wins over the transcript's text", () =>
    Effect.gen(function*() {
      yield* pipe({ model: Letta.agentId, userMessage: "Override", messages: transcript, body: {} })
      const [sent] = yield* sentBodies
      assert.deepStrictEqual(sent?.body.messages, [{ role: "user", content: "Override" }])
    }).pipe(Effect.provide(pipelineLayer(answer))))

  it.effect("images of the newest message become Letta image parts", () =>
    Effect.gen(function*() {
      yield* pipe({
        model: Letta.agentId,
        messages: [{
          role: "user",
          content: [
            { type: "text", text: "What is this?" },
            { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
            { type: "image_url", image_url: { url: "https://example.test/cat.jpg" } },
            { type: "input_audio", input_audio: { data: "…" } }
          ]
        }],
        body: {}
      })
      const [sent] = yield* sentBodies
      assert.deepStrictEqual(sent?.body.messages[0].content, [
        { type: "text", text: "What is this?" },
        { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
        { type: "image", source: { type: "url", url: "https://example.test/cat.jpg" } }
      ])
    }).pipe(Effect.provide(pipelineLayer(answer, { imageUrlHosts: ["*.test"] }))))

  it.effect("image URLs for Letta to fetch: refused unless PIPELINE_IMAGE_URL_HOSTS allows the host, and never file:, an IP or http", () =>
    Effect.gen(function*() {
      const withImage = (url: string) => ({
        model: Letta.agentId,
        messages: [{ role: "user", content: [{ type: "text", text: "Look" }, { type: "image_url", image_url: { url } }] }],
        body: {}
      })
      const attempts = [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "https://127.0.0.1:8283/v1/agents/",
        "https://[::1]/x.png",
        "https://localhost/x.png",
        "https://user:pw@images.example.com/x.png",
        "http://images.example.com/x.png",
        "ftp://images.example.com/x.png",
        "https://images.example.com.evil.test/x.png",
        "gopher://images.example.com/x.png",
        "javascript:alert(1)"
      ]
      for (const url of attempts) {
        const failed = yield* Effect.flip(pipe(withImage(url)))
        assert.strictEqual(failed._tag, "LettaError", url)
        assert.strictEqual(failed.reason, "InvalidRequest", url)
        assert.include(failed.message, "PIPELINE_IMAGE_URL_HOSTS", url)
      }
      // the allowed host, and inline images, go through
      yield* pipe(withImage("https://images.example.com/cat.png"))
      yield* pipe(withImage("data:image/png;base64,iVBORw0KGgo="))
      const sent = yield* sentBodies
      assert.strictEqual(sent.length, 2, "no refused image reached Letta")
      console.log(`image URLs: ${attempts.length} attempts refused before any call to Letta; the allowed host and inline images sent`)
    }).pipe(Effect.provide(pipelineLayer(answer, { imageUrlHosts: ["images.example.com"] }))))

  it.effect("by default no image URL is forwarded, only inline images", () =>
    Effect.gen(function*() {
      const failed = yield* Effect.flip(pipe({
        model: Letta.agentId,
        messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://example.test/cat.jpg" } }] }],
        body: {}
      }))
      assert.include(failed.message, "attach the image itself (a data: URL)")
      assert.lengthOf(yield* sentBodies, 0)
    }).pipe(Effect.provide(pipelineLayer(answer))))

  it.effect("continues a conversation when one is given, naming its agent", () =>
    Effect.gen(function*() {
      yield* pipe({ model: Letta.agentId, messages: transcript, body: {}, conversationId: Letta.conversationId })
      yield* pipe({ model: Letta.agentId, messages: transcript, body: {}, conversationId: "default" })
      const [first, second] = yield* sentBodies
      assert.strictEqual(first?.url, `/v1/conversations/${Letta.conversationId}/messages`)
      assert.strictEqual(first?.body.agent_id, Letta.agentId)
      assert.strictEqual(second?.url, "/v1/conversations/default/messages")
      assert.strictEqual(second?.body.agent_id, Letta.agentId)
      assert.strictEqual(second?.body.streaming, true)
    }).pipe(Effect.provide(pipelineLayer(answer))))

  it.effect("refuses, before any request: no agent, an invalid agent id, no user message", () =>
    Effect.gen(function*() {
      const pipeline = yield* Pipeline.Pipeline
      const run = (request: Parameters<Pipeline.Service["pipe"]>[0]) => Effect.flip(Stream.runDrain(pipeline.pipe(request)))
      const noAgent = yield* run({ messages: transcript, body: {} })
      assert.strictEqual(noAgent._tag === "LettaError" && noAgent.reason, "InvalidRequest")
      assert.include(noAgent.message, "LETTA_AGENT_ID")
      const badAgent = yield* run({ model: "../../admin", messages: transcript, body: {} })
      assert.strictEqual(badAgent._tag === "LettaError" && badAgent.reason, "InvalidId")
      const noMessage = yield* run({ model: Letta.agentId, messages: [{ role: "system", content: "x" }], body: {} })
      assert.strictEqual(noMessage._tag === "LettaError" && noMessage.reason, "InvalidRequest")
      assert.deepStrictEqual(yield* Mock.recorded, [])
    }).pipe(Effect.provide(pipelineLayer(answer))))
})

describe("a run that fails only by its stop reason", () => {
  // the bytes Letta streams: partial text, a failing stop reason, usage, [DONE], and no `event: error`
  const failedRun = () =>
    Mock.sse([
      `data: {"id":"message-1","message_type":"assistant_message","otid":"o-1","run_id":"${Letta.runId}","content":"Partial ans"}\n\n`,
      `data: {"message_type":"stop_reason","stop_reason":"invalid_llm_response"}\n\n`,
      `data: {"message_type":"usage_statistics","completion_tokens":3,"prompt_tokens":10,"total_tokens":13,"step_count":1}\n\n`,
      "data: [DONE]\n\n"
    ])

  it.effect("is a RunFailed LettaError after the partial text, never a successful empty answer", () =>
    Effect.gen(function*() {
      const pipeline = yield* Pipeline.Pipeline
      const items = Chunk.toReadonlyArray(yield* Stream.runCollect(Stream.either(
        pipeline.pipe({ model: Letta.agentId, messages: transcript, body: { stream: true } })
      )))
      assert.deepStrictEqual(items.slice(0, 2).map((item) => item._tag === "Right" && item.right.type), ["message", "usage"])
      const last = items.at(-1)
      assert.isTrue(last?._tag === "Left" && last.left._tag === "LettaError")
      if (last?._tag !== "Left" || last.left._tag !== "LettaError") return
      assert.strictEqual(last.left.reason, "RunFailed")
      assert.strictEqual(last.left.stopReason, "invalid_llm_response")
      assert.strictEqual(last.left.runId, Letta.runId)
      assert.strictEqual(
        last.left.message,
        `Letta run failed: the model answered something Letta could not use (agent ${Letta.agentId}, run ${Letta.runId}, ` +
          "stop reason invalid_llm_response)"
      )
    }).pipe(Effect.provide(pipelineLayer(failedRun))))
})

describe("Open WebUI tasks never reach the agent", () => {
  const titlePrompt = `### Task:
Generate a concise, 3-5 word title with an emoji summarizing the chat history.
### Output:
JSON format: { "title": "your concise title here" }
### Chat History:
<chat_history>
USER: Plan a weekend trip to Lisbon with kids please
ASSISTANT: Sure! Here is a plan…
</chat_history>`
  const tagsPrompt = `### Task:
Generate 1-3 broad tags categorizing the main themes of the chat history.
### Output:
JSON format: { "tags": ["tag1", "tag2", "tag3"] }`

  it.effect("a title task (by the transport's task name) gets a local title event", () =>
    Effect.gen(function*() {
      const events = yield* pipe({ model: Letta.agentId, task: "title_generation", messages: [{ role: "user", content: titlePrompt }], body: {} })
      assert.deepStrictEqual(events, [
        StreamEvent.title("Plan a weekend trip to Lisbon"),
        StreamEvent.done("end_turn", null)
      ])
      assert.deepStrictEqual(yield* Mock.recorded, [])
    }).pipe(Effect.provide(pipelineLayer(answer))))

  it.effect("metadata.task (Pipelines inlet) and the ### Task: template shape are detected too", () =>
    Effect.gen(function*() {
      const byMetadata = yield* pipe({
        model: Letta.agentId,
        messages: [{ role: "user", content: tagsPrompt }],
        body: { stream: true, metadata: { task: "tags_generation" } }
      })
      assert.deepStrictEqual(byMetadata[0], StreamEvent.message("task-tags_generation", "{\"tags\":[\"Letta\"]}"))
      const byField = yield* pipe({ model: Letta.agentId, messages: [{ role: "user", content: tagsPrompt }], body: { stream: true, task: "tags_generation" } })
      assert.strictEqual(byField[0]?.type, "message")
      const byShape = yield* pipe({ model: Letta.agentId, messages: [{ role: "user", content: titlePrompt }], body: { stream: false } })
      assert.strictEqual(byShape[0]?.type, "title")
      const followUps = yield* pipe({
        model: Letta.agentId,
        messages: [{ role: "user", content: "### Task:\nSuggest 3-5 follow-ups.\nJSON format: { \"follow_ups\": [\"Q?\"] }" }],
        body: { stream: false }
      })
      assert.deepStrictEqual(followUps[0], StreamEvent.message("task-follow_up_generation", "{\"follow_ups\":[]}"))
      assert.deepStrictEqual(yield* Mock.recorded, [])
    }).pipe(Effect.provide(pipelineLayer(answer))))

  it.effect("a task prompt after a workspace model's system prompt is still a task; metadata is read field by field", () =>
    Effect.gen(function*() {
      const system = { role: "system", content: "You are Milo, a travel planner." }
      const title = yield* pipe({ model: Letta.agentId, messages: [system, { role: "user", content: titlePrompt }], body: { stream: false } })
      assert.strictEqual(title[0]?.type, "title")
      // a task in a new chat: chat_id is null, the task must still be seen
      const tags = yield* pipe({
        model: Letta.agentId,
        messages: [system, { role: "user", content: tagsPrompt }],
        body: { stream: false, metadata: { chat_id: null, task: "tags_generation", task_body: { chat_id: null } } }
      })
      assert.deepStrictEqual(tags[0], StreamEvent.message("task-tags_generation", "{\"tags\":[\"Letta\"]}"))
      assert.deepStrictEqual(yield* Mock.recorded, [])
      assert.strictEqual(OpenWebUITask.metadataField({ metadata: { chat_id: null, task: "x" } }, "task"), "x")
      assert.isUndefined(OpenWebUITask.metadataField({ metadata: { chat_id: null } }, "chat_id"))
      assert.isUndefined(OpenWebUITask.metadataField({ metadata: JSON.parse("{\"__proto__\":{\"task\":\"x\"}}") }, "task"))
    }).pipe(Effect.provide(pipelineLayer(answer))))

  it.effect("a conversation (an assistant message before it) that starts with ### Task: is not a task", () =>
    Effect.gen(function*() {
      const events = yield* pipe({
        model: Letta.agentId,
        messages: [{ role: "user", content: "hi" }, { role: "assistant", content: "hello" }, { role: "user", content: tagsPrompt }],
        body: { stream: false }
      })
      assert.strictEqual(events.at(-1)?.type, "done")
      assert.strictEqual((yield* Mock.recorded).length, 1)
    }).pipe(Effect.provide(pipelineLayer(answer))))

  it.effect("a streamed chat message that happens to start with ### Task: still goes to the agent", () =>
    Effect.gen(function*() {
      const events = yield* pipe({ model: Letta.agentId, messages: [{ role: "user", content: tagsPrompt }], body: { stream: true } })
      assert.strictEqual(events.at(-1)?.type, "done")
      assert.strictEqual((yield* Mock.recorded).length, 1)
    }).pipe(Effect.provide(pipelineLayer(answer))))
})

describe("hooks", () => {
  it.effect("inlet and outlet are the identity by default", () =>
    Effect.gen(function*() {
      const pipeline = yield* Pipeline.Pipeline
      const body = { model: Letta.agentId, messages: transcript }
      assert.strictEqual(yield* pipeline.inlet(body), body)
      assert.strictEqual(yield* pipeline.outlet(body, { id: "u1" }), body)
    }).pipe(Effect.provide(pipelineLayer(answer))))

  it.effect("hooks supplied by a layer run with the user; one may refuse with HookRejected", () =>
    Effect.gen(function*() {
      const pipeline = yield* Pipeline.Pipeline
      const tagged = yield* pipeline.inlet({ a: 1 }, { id: "u1", name: "Ada" })
      assert.deepStrictEqual(tagged, { a: 1, seen_by: "Ada" })
      const refused = yield* Effect.flip(pipeline.outlet({ blocked: true }))
      assert.strictEqual(refused._tag === "LettaError" && refused.reason, "HookRejected")
    }).pipe(Effect.provide(pipelineLayer(answer, {}, PipelineHooks.layer({
      inlet: (body, user) => Effect.succeed({ ...body, seen_by: Option.match(user, { onNone: () => "nobody", onSome: (u) => u.name ?? "?" }) }),
      outlet: (body) =>
        body.blocked === true
          ? Effect.fail(new LettaError.LettaError({ reason: "HookRejected", detail: "blocked by policy" }))
          : Effect.succeed(body)
    })))))
})

describe("errors as events", () => {
  it.effect("catchToEvent turns a mid-stream failure into a final error event", () =>
    Effect.gen(function*() {
      const pipeline = yield* Pipeline.Pipeline
      const events = Chunk.toReadonlyArray(
        yield* Stream.runCollect(StreamEvent.catchToEvent(pipeline.pipe({ model: Letta.agentId, messages: transcript, body: {} })))
      )
      assert.deepStrictEqual(events.map((e) => e.type), ["message", "error"])
      const last = events.at(-1)
      assert.strictEqual(last?.type === "error" && last.data.error, "LettaError")
      assert.strictEqual(last?.type === "error" && last.data.reason, "StreamError")
      assert.include(last?.type === "error" ? last.data.message : "", "Rate limit")
      const turn = yield* ChatStream.collect(Stream.fromIterable(events))
      assert.strictEqual(turn.content, "partial")
      assert.isTrue(Option.isSome(turn.error))
    }).pipe(Effect.provide(pipelineLayer(() =>
      Mock.sse([`${Mock.frames(Letta.assistant("partial"), Letta.stopReason("llm_api_error"))}event: error\ndata: ${JSON.stringify(Letta.errorMessage)}\n\n`])
    ))))
})

describe("poll mode", () => {
  const pollRoutes = (statuses: ReadonlyArray<string>, stopReason: string | null = "end_turn") => {
    let polls = 0
    return (request: Mock.Recorded): Response => {
      if (request.url.endsWith("/messages/async")) {
        return Mock.json({ id: Letta.runId, status: "created", agent_id: Letta.agentId })
      }
      if (request.url === `/v1/runs/${Letta.runId}`) {
        const status = statuses[Math.min(polls++, statuses.length - 1)]
        return Mock.json({ id: Letta.runId, status, agent_id: Letta.agentId, stop_reason: status === "running" ? null : stopReason })
      }
      const after = new URL(request.url, Mock.baseUrl).searchParams.get("after")
      const all = [Letta.reasoning("Hm.", "o-1", "message-1"), Letta.assistant("Polled answer.", "o-2", "message-2")]
      const visible = all.slice(0, polls >= 2 ? 2 : 1)
      const start = after === null ? 0 : visible.findIndex((m) => m.id === after) + 1
      return Mock.json(visible.slice(start))
    }
  }

  it.effect("starts a background run and follows it at the configured interval", () =>
    Effect.gen(function*() {
      const pipeline = yield* Pipeline.Pipeline
      const fiber = yield* Effect.fork(Stream.runCollect(pipeline.pipe({ model: Letta.agentId, messages: transcript, body: {} })))
      yield* TestClock.adjust(Duration.seconds(2))
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust(Duration.seconds(2))
      const events = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.deepStrictEqual(events.map((e) => e.type), ["reasoning", "message", "done"])
      assert.deepStrictEqual(events.at(-1), StreamEvent.done("end_turn", Letta.runId))
      const urls = (yield* Mock.recorded).map((r) => r.url)
      assert.strictEqual(urls[0], `/v1/agents/${Letta.agentId}/messages/async`)
      assert.strictEqual(urls.filter((u) => u === `/v1/runs/${Letta.runId}`).length, 3)
      const cursors = urls.filter((u) => u.includes("/messages?")).map((u) => new URL(u, Mock.baseUrl).searchParams.get("after"))
      assert.deepStrictEqual(cursors, [null, "message-1", "message-2"])
    }).pipe(Effect.provide(pipelineLayer(pollRoutes(["running", "running", "completed"]), {
      mode: "poll",
      pollInterval: Duration.seconds(2)
    }))))

  // poll and stream share one rule (ChatStream.toEvents): the run's stop reason, or `error` when a failed run has none
  for (const [stopReason, expected] of [["llm_api_error", "llm_api_error"], [null, "error"]] as const) {
    it.effect(`a failed run (stop reason ${stopReason}) ends in a RunFailed error after its messages`, () =>
      Effect.gen(function*() {
        const pipeline = yield* Pipeline.Pipeline
        const fiber = yield* Effect.fork(Stream.runCollect(Stream.either(pipeline.pipe({ model: Letta.agentId, messages: transcript, body: {} }))))
        yield* TestClock.adjust(Duration.seconds(5))
        const items = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
        assert.isTrue(items.some((item) => item._tag === "Right" && item.right.type === "message"))
        const last = items.at(-1)
        assert.isTrue(last?._tag === "Left" && last.left._tag === "LettaError" && last.left.reason === "RunFailed")
        if (last?._tag !== "Left" || last.left._tag !== "LettaError") return
        assert.strictEqual(last.left.stopReason, expected)
        assert.strictEqual(last.left.runId, Letta.runId)
        assert.strictEqual(last.left.agentId, Letta.agentId)
        assert.include(last.left.message, expected)
      }).pipe(Effect.provide(pipelineLayer(pollRoutes(["running", "failed"], stopReason), {
        mode: "poll",
        pollInterval: Duration.seconds(1)
      }))))
  }

  it.effect("a blocking conversation turn whose stop reason failed is a RunFailed error too", () =>
    Effect.gen(function*() {
      const pipeline = yield* Pipeline.Pipeline
      const request = { model: Letta.agentId, messages: transcript, body: {}, conversationId: Letta.conversationId }
      const error = yield* Effect.flip(Stream.runDrain(pipeline.pipe(request)))
      assert.isTrue(error._tag === "LettaError" && error.reason === "RunFailed" && error.stopReason === "invalid_tool_call")
    }).pipe(Effect.provide(pipelineLayer(() =>
      Mock.json({ messages: [Letta.assistant("Half.")], stop_reason: Letta.stopReason("invalid_tool_call"), usage: Letta.usage })
    , { mode: "poll" }))))

  it.effect("a conversation turn in poll mode is one blocking request, no SSE", () =>
    Effect.gen(function*() {
      const events = yield* pipe({ model: Letta.agentId, messages: transcript, body: {}, conversationId: Letta.conversationId })
      assert.deepStrictEqual(events.map((e) => e.type), ["message", "usage", "done"])
      const [sent] = yield* sentBodies
      assert.strictEqual(sent?.body.streaming, false)
    }).pipe(Effect.provide(pipelineLayer(() =>
      Mock.json({ messages: [Letta.assistant("Blocking answer.")], stop_reason: Letta.stopReason(), usage: Letta.usage })
    , { mode: "poll" }))))
})

describe("poll mode needs LettaRuns, which only the REST layers provide", () => {
  const building = (layer: Layer.Layer<Pipeline.Pipeline, ConfigError.ConfigError>) =>
    Effect.scoped(Effect.either(Layer.build(layer)))

  it.effect("over the App Server, building the pipeline fails with a ConfigError naming LETTA_MODE and LETTA_BACKEND", () =>
    Effect.gen(function*() {
      const settings = LettaConfig.make({ baseUrl: "ws://127.0.0.1:4500", mode: "poll" })
      const built = yield* building(
        Pipeline.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings)))
      )
      assert.isTrue(Either.isLeft(built))
      if (Either.isRight(built)) return
      const line = EnvConfig.describe(built.left)
      assert.include(line, "LETTA_MODE=poll")
      assert.include(line, "LETTA_BACKEND=rest")
      assert.include(line, "LETTA_BACKEND=app-server")
      // in stream mode the same backend builds (no socket is opened before a call)
      const streaming = yield* building(
        Pipeline.layerSettings({ ...settings, mode: "stream" }).pipe(Layer.provide(HttpTransport.layer(settings)))
      )
      assert.isTrue(Either.isRight(streaming))
    }))

  it.effect("a client without LettaRuns fails in poll mode when built, and builds in stream mode", () =>
    Effect.gen(function*() {
      const over = (mode: "stream" | "poll") =>
        Pipeline.layer.pipe(
          Layer.provide(PipelineHooks.layerIdentity),
          Layer.provide(LettaClient.layerTest({})),
          Layer.provide(LettaConfig.layer({ mode }))
        )
      const poll = yield* building(over("poll"))
      assert.isTrue(Either.isLeft(poll) && EnvConfig.describe(poll.left).includes("LETTA_MODE=poll"))
      assert.isTrue(Either.isRight(yield* building(over("stream"))))
    }))
})

describe("lifecycle", () => {
  it.effect("building the layer is on_startup, releasing it on_shutdown", () =>
    Effect.gen(function*() {
      const logs = yield* Ref.make<ReadonlyArray<string>>([])
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message }) => Effect.runSync(Ref.update(logs, (all) => [...all, String(message)])))
      )
      yield* Effect.scoped(Layer.build(pipelineLayer(answer, { name: "Milo" }))).pipe(Effect.provide(capture))
      const lines = yield* Ref.get(logs)
      assert.strictEqual(lines.length, 2)
      assert.include(lines[0], "Pipeline \"Milo\" started: Letta at http://letta.test:8283")
      assert.strictEqual(lines[1], "Pipeline \"Milo\" stopped")
    }))
})
