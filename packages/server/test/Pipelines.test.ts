/**
 * The Open WebUI Pipelines protocol with the bodies Open WebUI sends, and the chat → conversation mapping.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { call, chat, contentOf, dataLines, demoAgent, emulatorStats, fields, json, serverLayer } from "./utils/harness.js"

/** What Open WebUI posts to `/{id}/filter/inlet` (open-webui `process_pipeline_inlet_filter`). */
const inletBody = (model: string, chatId: string, task?: string) => ({
  body: {
    stream: true,
    model,
    messages: [{ role: "user", content: "Hi there" }],
    metadata: {
      user_id: "u-1",
      chat_id: chatId,
      message_id: "m-1",
      session_id: "s-1",
      ...(task === undefined ? {} : { task, task_body: {} })
    }
  },
  user: { id: "u-1", email: "ada@example.com", name: "Ada", role: "admin" }
})

const requestsTo = (route: string) => Effect.map(emulatorStats, (stats) => stats.requests_by_route[route] ?? 0)

layer(serverLayer(), { excludeTestServices: true })("Pipelines protocol", (it) => {
  describe("discovery", () => {
    it.effect("/models has the top-level pipelines flag and a pipeline entry per model; /v1/models is OpenAI's plain list", () =>
      Effect.gen(function*() {
        const agent = yield* demoAgent
        const pipelines = json(yield* call("GET", "/models"))
        assert.strictEqual(pipelines.pipelines, true)
        assert.strictEqual(pipelines.object, "list")
        const model = (pipelines.data as ReadonlyArray<unknown>).map(fields).find((m) => m.id === agent.id)
        assert.deepStrictEqual(model?.pipeline, { type: "pipe", valves: true })
        assert.strictEqual(model?.name, "demo-agent")
        assert.strictEqual(model?.object, "model")
        // Open WebUI treats a connection as a Pipelines one by the `pipelines` key: the /v1 connection must not have it
        const openai = json(yield* call("GET", "/v1/models"))
        assert.deepStrictEqual(Object.keys(openai).sort(), ["data", "object"])
        const plain = (openai.data as ReadonlyArray<unknown>).map(fields).find((m) => m.id === agent.id)
        assert.strictEqual(plain?.name, "demo-agent")
        assert.isFalse(plain !== undefined && "pipeline" in plain)
      }))

    it.effect("/ and /v1 answer {status: true}; /pipelines lists this pipeline", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(json(yield* call("GET", "/")), { status: true })
        assert.deepStrictEqual(json(yield* call("GET", "/v1")), { status: true })
        for (const path of ["/pipelines", "/v1/pipelines"]) {
          assert.deepStrictEqual(json(yield* call("GET", path)), {
            data: [{ id: "letta", name: "Letta", type: "pipe", valves: true }]
          })
        }
      }))
  })

  describe("valves", () => {
    it.effect("read, JSON Schema spec, validated update applied to the next request without a restart", () =>
      Effect.gen(function*() {
        const valves = json(yield* call("GET", "/letta/valves"))
        assert.deepStrictEqual(valves, {
          status_events: "auto",
          stream_tokens: true,
          openwebui_tool_calls: "items",
          agent_tags: [],
          user_mode: "shared",
          per_user_models: []
        })
        const spec = json(yield* call("GET", "/v1/letta/valves/spec"))
        assert.strictEqual(spec.type, "object")
        assert.strictEqual(spec.title, "Valves")
        assert.deepStrictEqual(Object.keys(fields(spec.properties)).sort(), [
          "agent_tags",
          "openwebui_tool_calls",
          "per_user_models",
          "status_events",
          "stream_tokens",
          "user_mode"
        ])
        assert.deepStrictEqual(fields(fields(spec.properties).status_events).enum, ["on", "off", "auto"])
        assert.includeMembers([...(spec.required as ReadonlyArray<string>)], ["stream_tokens"])

        const invalid = yield* call("POST", "/letta/valves/update", { body: { ...valves, status_events: "loud" } })
        assert.strictEqual(invalid.status, 422)
        assert.include(String(json(invalid).detail), "status_events")
        const unknownKey = yield* call("POST", "/letta/valves/update", { body: { ...valves, surprise: 1 } })
        assert.strictEqual(unknownKey.status, 422)

        // status events on for every client: a plain (non Open WebUI) stream now carries them
        const updated = yield* call("POST", "/v1/letta/valves/update", { body: { ...valves, status_events: "on" } })
        assert.deepStrictEqual(json(updated), { ...valves, status_events: "on" })
        const body = yield* chat("search for valves", { stream: true })
        const answer = yield* call("POST", "/v1/chat/completions", { body })
        assert.isTrue(dataLines(answer.text).some((line) => "event" in fields(line)))
        yield* call("POST", "/letta/valves/update", { body: valves })
        const after = yield* call("POST", "/v1/chat/completions", { body })
        assert.isFalse(dataLines(after.text).some((line) => "event" in fields(line)))
      }))

    it.effect("an unknown pipeline id is FastAPI's 404", () =>
      Effect.gen(function*() {
        const answer = yield* call("GET", "/nope/valves")
        assert.strictEqual(answer.status, 404)
        assert.deepStrictEqual(json(answer), { detail: "Pipeline nope not found" })
      }))
  })

  describe("filters", () => {
    it.effect("inlet for the model keeps the body and copies chat id and task out of metadata; outlet is identity", () =>
      Effect.gen(function*() {
        const agent = yield* demoAgent
        const request = inletBody(agent.id, "chat-42", "title_generation")
        const inlet = yield* call("POST", `/${agent.id}/filter/inlet`, { body: request })
        assert.strictEqual(inlet.status, 200)
        assert.deepStrictEqual(json(inlet), { ...request.body, chat_id: "chat-42", task: "title_generation", openwebui: true })
        const outletBody = { ...request.body, messages: [...request.body.messages, { role: "assistant", content: "Hello!" }] }
        const outlet = yield* call("POST", `/v1/${agent.id}/filter/outlet`, { body: { body: outletBody, user: request.user } })
        assert.deepStrictEqual(json(outlet), outletBody)
      }))

    it.effect("a malformed filter body is a 422 with FastAPI's detail", () =>
      Effect.gen(function*() {
        const answer = yield* call("POST", "/letta/filter/inlet", { body: { user: {} } })
        assert.strictEqual(answer.status, 422)
        assert.include(String(json(answer).detail), "body")
      }))
  })

  describe("chats and tasks", () => {
    it.effect("each Open WebUI chat gets its own Letta conversation: two chats with one agent never share a thread", () =>
      Effect.gen(function*() {
        const send = (chatId: string, text: string) =>
          Effect.flatMap(chat(text, { stream: true }), (body) =>
            call("POST", "/v1/chat/completions", { body, headers: { "x-openwebui-chat-id": chatId } }))
        yield* send("chat-a", "apples")
        yield* send("chat-b", "bananas")
        const a = contentOf(dataLines((yield* send("chat-a", "and then?")).text).filter((l) => l !== "[DONE]"))
        const b = contentOf(dataLines((yield* send("chat-b", "and then?")).text).filter((l) => l !== "[DONE]"))
        assert.include(a, "Before that you said: \"apples\"")
        assert.include(b, "Before that you said: \"bananas\"")
        assert.strictEqual(yield* requestsTo("POST /v1/conversations/"), 2)
      }))

    it.effect("the inlet-copied chat_id maps the chat too (Pipelines mode, no header)", () =>
      Effect.gen(function*() {
        const agent = yield* demoAgent
        const inlet = json(yield* call("POST", "/letta/filter/inlet", { body: inletBody(agent.id, "chat-pipelines") }))
        const first = { ...inlet, messages: [{ role: "user", content: "cherries" }] }
        yield* call("POST", "/chat/completions", { body: first })
        const second = { ...inlet, messages: [{ role: "user", content: "cherries" }, { role: "assistant", content: "…" }, { role: "user", content: "what fruit?" }] }
        const answer = yield* call("POST", "/chat/completions", { body: second })
        assert.include(contentOf(dataLines(answer.text).filter((l) => l !== "[DONE]")), "Before that you said: \"cherries\"")
      }))

    it.effect("a regenerate resends only the newest user message", () =>
      Effect.gen(function*() {
        const transcript = [
          { role: "user", content: "first question" },
          { role: "assistant", content: "first answer" },
          { role: "user", content: "second question" }
        ]
        const body = { ...(yield* chat("")), messages: transcript }
        const once = json(yield* call("POST", "/v1/chat/completions", { body, headers: { "x-openwebui-chat-id": "regen" } }))
        const again = json(yield* call("POST", "/v1/chat/completions", { body, headers: { "x-openwebui-chat-id": "regen" } }))
        const content = (answer: Readonly<Record<string, unknown>>) =>
          String(fields(fields((answer.choices as ReadonlyArray<unknown>)[0]).message).content)
        assert.include(content(once), "You said: \"second question\". I am demo-agent, an emulated Letta agent. This is the start")
        assert.include(content(again), "Before that you said: \"second question\"")
        assert.notInclude(content(again), "first question")
      }))

    it.effect("task requests never reach the agent; each gets the JSON its template asks for", () =>
      Effect.gen(function*() {
        const before = yield* emulatorStats
        const streamsBefore = before.total_streams
        const titlePrompt = "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat history.\n" +
          "### Output:\nJSON format: { \"title\": \"your concise title here\" }\n### Chat History:\n<chat_history>\n" +
          "USER: How do Letta agents remember things?\nASSISTANT: They keep memory blocks.\n</chat_history>"
        const title = json(yield* call("POST", "/v1/chat/completions", {
          body: { ...(yield* chat(titlePrompt)), stream: false },
          headers: { "x-openwebui-chat-id": "chat-a" }
        }))
        const titleContent = String(fields(fields((title.choices as ReadonlyArray<unknown>)[0]).message).content)
        assert.deepStrictEqual(JSON.parse(titleContent), { title: "How do Letta agents remember things" })
        const tags = json(yield* call("POST", "/v1/chat/completions", {
          body: { ...(yield* chat("### Task:\nGenerate tags\nJSON format: { \"tags\": [\"tag1\"] }")), stream: false },
          headers: { "x-openwebui-task": "tags_generation" }
        }))
        const tagsContent = String(fields(fields((tags.choices as ReadonlyArray<unknown>)[0]).message).content)
        assert.deepStrictEqual(JSON.parse(tagsContent.slice(tagsContent.indexOf("{"), tagsContent.lastIndexOf("}") + 1)), {
          tags: ["Letta"]
        })
        const after = yield* emulatorStats
        assert.strictEqual(after.total_streams, streamsBefore)
        assert.deepStrictEqual(after.requests_by_route, before.requests_by_route)
      }))

    it.effect("temporary chats (local:…) use the agent's default thread, no conversation", () =>
      Effect.gen(function*() {
        const before = yield* requestsTo("POST /v1/conversations/")
        const body = yield* chat("temporary")
        yield* call("POST", "/v1/chat/completions", { body, headers: { "x-openwebui-chat-id": "local:abc" } })
        assert.strictEqual(yield* requestsTo("POST /v1/conversations/"), before)
      }))
  })
})
