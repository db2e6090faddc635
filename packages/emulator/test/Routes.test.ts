/**
 * The emulator's routes at the wire level: paths, statuses, bodies, framing, and the OpenAPI schemas.
 */
import { assert, describe, layer } from "@effect/vitest"
import { LettaSchema } from "@letta-pipeline/core"
import { Effect, Schema } from "effect"
import { Emulator } from "../src/index.js"
import { decode, demoAgentId, emulatorLayer, fields, frames, json, payloads, request, turn } from "./utils/harness.js"
import { violations } from "./utils/spec.js"

const commonPrefix = ["id", "date", "name", "message_type", "otid", "sender_id", "step_id", "is_err", "seq_id", "run_id"]

layer(emulatorLayer(), { excludeTestServices: true })("emulator routes", (it) => {
  describe("health and trailing slashes", () => {
    it.effect("GET /v1/health/ answers Health; the slash-less form redirects with 307", () =>
      Effect.gen(function*() {
        const health = yield* request("GET", "/v1/health/")
        assert.strictEqual(health.status, 200)
        assert.deepStrictEqual(violations("Health", json(health)), [])
        const bare = yield* request("GET", "/v1/health")
        assert.strictEqual(bare.status, 307)
        assert.match(bare.headers.location ?? "", /^http:\/\/127\.0\.0\.1:\d+\/v1\/health\/$/)
        const agents = yield* request("GET", "/v1/agents?limit=1")
        assert.strictEqual(agents.status, 307)
        assert.match(agents.headers.location ?? "", /\/v1\/agents\/\?limit=1$/)
      }))

    it.effect("an unknown route is FastAPI's 404", () =>
      Effect.gen(function*() {
        const answer = yield* request("GET", "/v1/nothing-here")
        assert.strictEqual(answer.status, 404)
        assert.deepStrictEqual(json(answer), { detail: "Not Found" })
      }))
  })

  describe("agents", () => {
    it.effect("lists the demo agent; every agent conforms to AgentState", () =>
      Effect.gen(function*() {
        const answer = yield* request("GET", "/v1/agents/")
        assert.strictEqual(answer.status, 200)
        const agents = json(answer)
        assert.isTrue(Array.isArray(agents))
        for (const agent of agents as ReadonlyArray<unknown>) assert.deepStrictEqual(violations("AgentState", agent), [])
        const listed = decode(LettaSchema.AgentList, answer)
        assert.isTrue(listed.some((agent) => agent.name === "demo-agent"))
      }))

    it.effect("creates agents and filters by name, tags (any or all), with id-cursor pages", () =>
      Effect.gen(function*() {
        const tag = `t${Date.now()}`
        const created = []
        for (let i = 0; i < 5; i++) {
          const answer = yield* request("POST", "/v1/agents/", {
            body: { name: `${tag}-${i}`, tags: i % 2 === 0 ? [tag, "even"] : [tag] }
          })
          assert.strictEqual(answer.status, 200)
          assert.deepStrictEqual(violations("AgentState", json(answer)), [])
          created.push(decode(LettaSchema.AgentState, answer))
        }
        const byName = decode(LettaSchema.AgentList, yield* request("GET", `/v1/agents/?name=${tag}-3`))
        assert.deepStrictEqual(byName.map((a) => a.id), [created[3]?.id])
        const tagged = decode(LettaSchema.AgentList, yield* request("GET", `/v1/agents/?tags=${tag}&order=asc`))
        assert.deepStrictEqual(tagged.map((a) => a.name), created.map((a) => a.name))
        const both = decode(LettaSchema.AgentList, yield* request("GET", `/v1/agents/?tags=${tag}&tags=even&match_all_tags=true`))
        assert.strictEqual(both.length, 3)
        const first = decode(LettaSchema.AgentList, yield* request("GET", `/v1/agents/?tags=${tag}&order=asc&limit=2`))
        const second = decode(
          LettaSchema.AgentList,
          yield* request("GET", `/v1/agents/?tags=${tag}&order=asc&limit=2&after=${first[1]?.id}`)
        )
        assert.deepStrictEqual([...first, ...second].map((a) => a.id), created.slice(0, 4).map((a) => a.id))
        const before = decode(
          LettaSchema.AgentList,
          yield* request("GET", `/v1/agents/?tags=${tag}&order=asc&limit=2&before=${created[3]?.id}`)
        )
        assert.deepStrictEqual(before.map((a) => a.id), created.slice(1, 3).map((a) => a.id))
        const newestFirst = decode(LettaSchema.AgentList, yield* request("GET", `/v1/agents/?tags=${tag}`))
        assert.deepStrictEqual(newestFirst.map((a) => a.id), created.map((a) => a.id).reverse())
      }))

    it.effect("GET /v1/agents/{id}: 200, 404 with Letta's detail, 422 for a malformed id", () =>
      Effect.gen(function*() {
        const id = yield* demoAgentId
        assert.strictEqual((yield* request("GET", `/v1/agents/${id}`)).status, 200)
        const missing = "agent-00000000-0000-4000-8000-000000000000"
        const notFound = yield* request("GET", `/v1/agents/${missing}`)
        assert.strictEqual(notFound.status, 404)
        assert.deepStrictEqual(json(notFound), { detail: `Agent with ID ${missing} not found` })
        const malformed = yield* request("GET", "/v1/agents/agent-123")
        assert.strictEqual(malformed.status, 422)
        const body = fields(json(malformed))
        assert.strictEqual(typeof body.detail, "string")
        assert.include(String(body.detail), "String should match pattern 'agent-{uuid4}'")
        assert.deepStrictEqual(body.examples, ["agent-123e4567-e89b-42d3-8456-426614174000"])
      }))
  })

  describe("streaming a turn", () => {
    it.effect("token mode: ping with run_id first, deltas sharing an id with one otid per type, then the tail", () =>
      Effect.gen(function*() {
        const id = yield* demoAgentId
        const answer = yield* request("POST", `/v1/agents/${id}/messages/stream`, {
          body: { ...turn("Hello emulator"), stream_tokens: true }
        })
        assert.strictEqual(answer.status, 200)
        assert.include(answer.headers["content-type"], "text/event-stream")
        const all = frames(answer.text)
        for (const frame of all) assert.match(frame, /^data: \S/)
        assert.strictEqual(all.at(-1), "data: [DONE]")
        const messages = payloads(answer.text)
        for (const message of messages) assert.deepStrictEqual(violations("LettaStreamingResponse", message), [])
        const types = messages.map((m) => m.message_type)
        assert.strictEqual(types[0], "ping")
        assert.deepStrictEqual(types.slice(-2), ["stop_reason", "usage_statistics"])
        const runId = messages[0]?.run_id
        assert.match(String(runId), /^run-/)
        const reasoning = messages.filter((m) => m.message_type === "reasoning_message")
        const assistant = messages.filter((m) => m.message_type === "assistant_message")
        assert.isAbove(reasoning.length, 1)
        assert.isAbove(assistant.length, 1)
        assert.strictEqual(new Set([...reasoning, ...assistant].map((m) => m.id)).size, 1)
        assert.strictEqual(new Set(reasoning.map((m) => m.otid)).size, 1)
        assert.notStrictEqual(reasoning[0]?.otid, assistant[0]?.otid)
        assert.include(assistant.map((m) => m.content).join(""), "You said: \"Hello emulator\"")
        for (const message of [...reasoning, ...assistant]) {
          assert.deepStrictEqual(Object.keys(message).slice(0, commonPrefix.length), commonPrefix)
          assert.strictEqual(message.run_id, runId)
        }
        // compact JSON, as pydantic writes it
        const firstData = all[1] ?? ""
        assert.strictEqual(firstData, `data: ${JSON.stringify(JSON.parse(firstData.slice(6)))}`)
      }))

    it.effect("step mode: whole messages; a tool request adds tool_call and tool_return before the answer", () =>
      Effect.gen(function*() {
        const id = yield* demoAgentId
        const answer = yield* request("POST", `/v1/agents/${id}/messages/stream`, {
          body: turn("Please search for effect streams")
        })
        const messages = payloads(answer.text)
        for (const message of messages) assert.deepStrictEqual(violations("LettaStreamingResponse", message), [])
        assert.deepStrictEqual(messages.map((m) => m.message_type), [
          "ping",
          "reasoning_message",
          "tool_call_message",
          "tool_return_message",
          "reasoning_message",
          "assistant_message",
          "stop_reason",
          "usage_statistics"
        ])
        const call = fields(messages[2]?.tool_call)
        assert.strictEqual(call.name, "web_search")
        assert.deepStrictEqual(JSON.parse(String(call.arguments)), { query: "effect streams" })
        assert.isTrue(Array.isArray(messages[2]?.tool_calls))
        assert.strictEqual(messages[3]?.tool_call_id, call.tool_call_id)
        assert.include(String(messages[5]?.content), "I searched for \"effect streams\"")
      }))

    it.effect("include_pings: false sends no ping", () =>
      Effect.gen(function*() {
        const id = yield* demoAgentId
        const answer = yield* request("POST", `/v1/agents/${id}/messages/stream`, {
          body: { ...turn("no pings"), include_pings: false }
        })
        assert.isFalse(payloads(answer.text).some((m) => m.message_type === "ping"))
      }))
  })

  describe("POST /v1/agents/{id}/messages", () => {
    it.effect("without streaming answers a LettaResponse", () =>
      Effect.gen(function*() {
        const id = yield* demoAgentId
        const answer = yield* request("POST", `/v1/agents/${id}/messages`, { body: turn("JSON please") })
        assert.strictEqual(answer.status, 200)
        assert.deepStrictEqual(violations("LettaResponse", json(answer)), [])
        const response = decode(LettaSchema.LettaResponse, answer)
        assert.deepStrictEqual(response.messages.map((m) => m.message_type), ["reasoning_message", "assistant_message"])
        assert.strictEqual(response.stop_reason.stop_reason, "end_turn")
      }))

    it.effect("streaming: true needs an SDK 1.0+ client: a User-Agent such as node's is refused with 422", () =>
      Effect.gen(function*() {
        const id = yield* demoAgentId
        const body = { ...turn("stream me"), streaming: true }
        const legacy = yield* request("POST", `/v1/agents/${id}/messages`, { body, headers: { "user-agent": "node" } })
        assert.strictEqual(legacy.status, 422)
        assert.deepStrictEqual(json(legacy), { detail: "streaming=true is only supported for SDK v1.0+ clients." })
        const oldSdk = yield* request("POST", `/v1/agents/${id}/messages`, { body, headers: { "user-agent": "letta-client/2.0.0" } })
        assert.strictEqual(oldSdk.status, 422)
        const stainless = yield* request("POST", `/v1/agents/${id}/messages`, {
          body,
          headers: { "user-agent": "node", "x-stainless-package-version": "1.12.1" }
        })
        assert.strictEqual(stainless.status, 200)
        assert.strictEqual(frames(stainless.text).at(-1), "data: [DONE]")
        const sdk = yield* request("POST", `/v1/agents/${id}/messages`, { body, headers: { "user-agent": "letta-client/1.12.1" } })
        assert.strictEqual(sdk.status, 200)
        const noAgent = yield* request("POST", `/v1/agents/${id}/messages`, { body })
        assert.strictEqual(noAgent.status, 200)
      }))

    it.effect("streaming options without streaming, empty messages and the legacy text field are 422s", () =>
      Effect.gen(function*() {
        const id = yield* demoAgentId
        const options = yield* request("POST", `/v1/agents/${id}/messages`, {
          body: { ...turn("x"), stream_tokens: true, include_pings: false }
        })
        assert.strictEqual(options.status, 422)
        assert.deepStrictEqual(json(options), {
          detail: "Streaming options set without streaming enabled. stream_tokens can only be true when streaming=true; " +
            "include_pings can only be set to false when streaming=true. Either set streaming=true or use default values for streaming options."
        })
        const empty = yield* request("POST", `/v1/agents/${id}/messages`, { body: { messages: [] } })
        assert.strictEqual(empty.status, 422)
        assert.deepStrictEqual(json(empty), { detail: "Messages must not be empty" })
        const legacy = yield* request("POST", `/v1/agents/${id}/messages/stream`, {
          body: { messages: [{ text: "hi", role: "user" }] }
        })
        assert.strictEqual(legacy.status, 422)
        const detail = String(fields(json(legacy)).detail)
        assert.include(detail, "'type': 'missing'")
        assert.include(detail, "'loc': ('body', 'messages', 0, 'content')")
        const notJson = yield* request("POST", `/v1/agents/${id}/messages/stream`, { body: "{oops" })
        assert.strictEqual(notJson.status, 422)
        assert.include(String(fields(json(notJson)).detail), "json_invalid")
      }))
  })

  describe("history and conversations", () => {
    it.effect("history lists the turn newest first by default; a second turn remembers the first", () =>
      Effect.gen(function*() {
        const agent = decode(LettaSchema.AgentState, yield* request("POST", "/v1/agents/", { body: { name: "historian" } }))
        yield* request("POST", `/v1/agents/${agent.id}/messages/stream`, { body: turn("first message") })
        const second = yield* request("POST", `/v1/agents/${agent.id}/messages/stream`, { body: turn("second message") })
        const answerText = payloads(second.text).filter((m) => m.message_type === "assistant_message").map((m) => m.content).join("")
        assert.include(answerText, "Before that you said: \"first message\"")
        const history = yield* request("GET", `/v1/agents/${agent.id}/messages`)
        for (const message of json(history) as ReadonlyArray<unknown>) {
          assert.deepStrictEqual(violations("LettaMessageUnion", message), [])
        }
        const newestFirst = decode(LettaSchema.MessageList, history)
        assert.strictEqual(newestFirst.length, 6)
        assert.strictEqual(newestFirst[0]?.message_type, "assistant_message")
        const oldestFirst = decode(LettaSchema.MessageList, yield* request("GET", `/v1/agents/${agent.id}/messages?order=asc&limit=2`))
        assert.deepStrictEqual(oldestFirst.map((m) => m.message_type), ["user_message", "reasoning_message"])
      }))

    it.effect("conversations keep their own thread; the agent's default thread is untouched", () =>
      Effect.gen(function*() {
        const agent = decode(LettaSchema.AgentState, yield* request("POST", "/v1/agents/", { body: { name: "threads" } }))
        const created = yield* request("POST", `/v1/conversations/?agent_id=${agent.id}`, { body: {} })
        assert.strictEqual(created.status, 200)
        assert.deepStrictEqual(violations("Conversation", json(created)), [])
        const conversation = decode(LettaSchema.Conversation, created)
        assert.match(conversation.id, /^conv-/)
        yield* request("POST", `/v1/conversations/${conversation.id}/messages`, { body: turn("in the thread") })
        const again = yield* request("POST", `/v1/conversations/${conversation.id}/messages`, { body: turn("still here") })
        assert.include(payloads(again.text).map((m) => m.content ?? "").join(""), "Before that you said: \"in the thread\"")
        const agentHistory = decode(LettaSchema.MessageList, yield* request("GET", `/v1/agents/${agent.id}/messages`))
        assert.strictEqual(agentHistory.length, 0)
        const threadHistory = decode(
          LettaSchema.MessageList,
          yield* request("GET", `/v1/agents/${agent.id}/messages?conversation_id=${conversation.id}`)
        )
        assert.strictEqual(threadHistory.length, 6)
        const unknown = yield* request("POST", "/v1/conversations/conv-00000000-0000-4000-8000-000000000000/messages", {
          body: turn("x")
        })
        assert.strictEqual(unknown.status, 404)
        const defaultThread = yield* request("POST", "/v1/conversations/default/messages", {
          body: { ...turn("default thread"), agent_id: agent.id }
        })
        assert.strictEqual(defaultThread.status, 200)
        assert.strictEqual(decode(LettaSchema.MessageList, yield* request("GET", `/v1/agents/${agent.id}/messages`)).length, 3)
        // deleted, the conversation is gone for good: its turns and its record are 404s
        const deleted = yield* request("DELETE", `/v1/conversations/${conversation.id}`)
        assert.strictEqual(deleted.status, 200)
        assert.strictEqual(deleted.text, "null")
        assert.strictEqual((yield* request("GET", `/v1/conversations/${conversation.id}`)).status, 404)
        const gone = yield* request("POST", `/v1/conversations/${conversation.id}/messages`, { body: turn("anyone?") })
        assert.strictEqual(gone.status, 404)
        assert.strictEqual(fields(json(gone)).detail, `Conversation with ID ${conversation.id} not found`)
        assert.strictEqual((yield* request("DELETE", `/v1/conversations/${conversation.id}`)).status, 404)
      }))
  })

  describe("agent deletion", () => {
    it.effect("DELETE /v1/agents/{agent_id}: the agent is gone from the list, its record and its turns are 404s", () =>
      Effect.gen(function*() {
        const created = fields(json(yield* request("POST", "/v1/agents/", { body: { name: "short-lived" } })))
        const id = String(created.id)
        const deleted = yield* request("DELETE", `/v1/agents/${id}`)
        assert.strictEqual(deleted.status, 200)
        assert.strictEqual(deleted.text, "null")
        const listed = (json(yield* request("GET", "/v1/agents/")) as ReadonlyArray<unknown>).map(fields)
        assert.isFalse(listed.some((agent) => agent.id === id))
        assert.strictEqual((yield* request("GET", `/v1/agents/${id}`)).status, 404)
        assert.strictEqual((yield* request("POST", `/v1/agents/${id}/messages/stream`, { body: turn("anyone?") })).status, 404)
        assert.strictEqual((yield* request("DELETE", `/v1/agents/${id}`)).status, 404)
      }))
  })

  describe("identities", () => {
    it.effect("PUT /v1/identities/ creates an identity by its key, then updates that one; a malformed body is a 422", () =>
      Effect.gen(function*() {
        const body = { identifier_key: "letta-pipeline:alice", name: "alice", identity_type: "user" }
        const first = yield* request("PUT", "/v1/identities/", { body })
        assert.strictEqual(first.status, 200)
        const created = Schema.decodeUnknownSync(LettaSchema.Identity)(json(first))
        assert.match(created.id, /^identity-[0-9a-f-]{36}$/)
        assert.deepStrictEqual(created.agent_ids, [])
        const again = Schema.decodeUnknownSync(LettaSchema.Identity)(
          json(yield* request("PUT", "/v1/identities/", { body: { ...body, name: "Alice A." } }))
        )
        assert.strictEqual(again.id, created.id)
        assert.strictEqual(again.name, "Alice A.")
        const other = Schema.decodeUnknownSync(LettaSchema.Identity)(
          json(yield* request("PUT", "/v1/identities/", { body: { ...body, identifier_key: "letta-pipeline:bob" } }))
        )
        assert.notStrictEqual(other.id, created.id)
        assert.strictEqual((yield* request("PUT", "/v1/identities/", { body: { name: "no key" } })).status, 422)
      }))
  })

  describe("runs", () => {
    it.effect("async: a Run at once, then its status and messages", () =>
      Effect.gen(function*() {
        const id = yield* demoAgentId
        const started = yield* request("POST", `/v1/agents/${id}/messages/async`, { body: turn("in the background") })
        assert.strictEqual(started.status, 200)
        assert.deepStrictEqual(violations("Run", json(started)), [])
        const run = decode(LettaSchema.Run, started)
        const finished = yield* request("GET", `/v1/runs/${run.id}`).pipe(
          Effect.map((answer) => decode(LettaSchema.Run, answer)),
          Effect.repeat({ until: (r) => r.status === "completed", times: 200 })
        )
        assert.strictEqual(finished.stop_reason, "end_turn")
        const messages = decode(LettaSchema.MessageList, yield* request("GET", `/v1/runs/${run.id}/messages`))
        assert.deepStrictEqual(messages.map((m) => m.message_type), ["user_message", "reasoning_message", "assistant_message"])
        const firstId = messages[0] !== undefined && "id" in messages[0] ? messages[0].id : ""
        const rest = decode(LettaSchema.MessageList, yield* request("GET", `/v1/runs/${run.id}/messages?after=${firstId}`))
        assert.strictEqual(rest.length, 2)
      }))

    it.effect("background streams carry seq_ids and resume after a cursor; a foreground run cannot be resumed", () =>
      Effect.gen(function*() {
        const id = yield* demoAgentId
        const first = yield* request("POST", `/v1/agents/${id}/messages/stream`, { body: { ...turn("resumable"), background: true } })
        const original = payloads(first.text)
        const numbered = original.filter((m) => typeof m.seq_id === "number")
        assert.isAbove(numbered.length, 2)
        assert.deepStrictEqual(numbered.map((m) => m.seq_id), numbered.map((_, i) => i + 1))
        const runId = String(original[0]?.run_id)
        const resumed = yield* request("POST", `/v1/runs/${runId}/stream`, { body: { starting_after: 2 } })
        assert.strictEqual(resumed.status, 200)
        assert.deepStrictEqual(payloads(resumed.text), original.slice(2))
        assert.strictEqual(frames(resumed.text).at(-1), "data: [DONE]")
        const foreground = yield* request("POST", `/v1/agents/${id}/messages/stream`, { body: turn("not resumable") })
        const foregroundRun = String(payloads(foreground.text)[0]?.run_id)
        const refused = yield* request("POST", `/v1/runs/${foregroundRun}/stream`, { body: {} })
        assert.strictEqual(refused.status, 400)
        assert.deepStrictEqual(json(refused), { detail: "Run was not created in background mode, so it cannot be retrieved." })
      }))

    it.effect("cancel with no active run is a 409", () =>
      Effect.gen(function*() {
        const id = yield* demoAgentId
        const answer = yield* request("POST", `/v1/agents/${id}/messages/cancel`, { body: {} })
        assert.strictEqual(answer.status, 409)
      }))
  })

  describe("introspection", () => {
    it.effect("GET /_emulator/stats counts requests by route template", () =>
      Effect.gen(function*() {
        yield* request("GET", "/v1/health/")
        const stats = fields(json(yield* request("GET", "/_emulator/stats")))
        const byRoute = fields(stats.requests_by_route)
        assert.isAbove(Number(byRoute["GET /v1/health/"]), 0)
        assert.isAbove(Number(byRoute["POST /v1/agents/{agent_id}/messages/stream"]), 0)
        assert.strictEqual(stats.active_streams, 0)
        assert.strictEqual(Schema.is(Schema.Number)(stats.total_streams), true)
      }))

    it.effect("POST /_emulator/faults arms faults for the next requests, whatever their route", () =>
      Effect.gen(function*() {
        const armed = yield* request("POST", "/_emulator/faults", { body: { fault: "status:503", count: 2 } })
        assert.strictEqual(armed.status, 200)
        const first = yield* request("GET", "/v1/health/")
        const second = yield* request("GET", `/v1/agents/${yield* demoAgentId}`)
        const third = yield* request("GET", "/v1/health/")
        assert.deepStrictEqual([first.status, second.status, third.status], [503, 503, 200])
        assert.deepStrictEqual(json(first), { detail: "Emulated failure (fault status:503)" })
        const unknown = yield* request("POST", "/_emulator/faults", { body: { fault: "meteor" } })
        assert.strictEqual(unknown.status, 422)
        assert.include(unknown.text, "unknown fault")
      }))

    it.effect("an armed reset drops the connection without an answer", () =>
      Effect.gen(function*() {
        yield* request("POST", "/_emulator/faults", { body: { fault: "reset" } })
        const url = yield* Effect.map(Emulator.Emulator, (emulator) => emulator.url)
        const failure = yield* Effect.tryPromise(() => fetch(`${url}/v1/health/`)).pipe(Effect.flip)
        assert.include(String(failure.error), "fetch failed")
        assert.strictEqual((yield* request("GET", "/v1/health/")).status, 200)
      }))
  })
})
