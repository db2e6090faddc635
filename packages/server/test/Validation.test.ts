/**
 * Request validation in words: every route that decodes a body (OpenAI chat completions, the native SSE pipe, the
 * Pipelines filter and valves, WebSocket messages) names the field, what it expected and what came; never the schema.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { call, demoAgent, fields, json, serverLayer, wsConnect } from "./utils/harness.js"

/** Effect's type rendering, which no client should see. */
const schemaDump = /Expected|└─|├─|readonly|ReadonlyArray|Struct \(|<->|\{ string \| filter \}/

const roles = "\"system\", \"developer\", \"user\", \"assistant\", \"tool\" or \"function\""

layer(serverLayer(), { excludeTestServices: true })("request validation messages", (it) => {
  it.effect("POST /v1/chat/completions: 400 naming the field, in OpenAI's error body", () =>
    Effect.gen(function*() {
      const agent = yield* demoAgent
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        // a wrong type deep in messages
        [
          { model: agent.id, messages: [{ role: "user", content: [{ type: "text", text: 5 }] }] },
          "invalid request body: messages[0].content[0].text: expected a string, got 5"
        ],
        [
          { model: agent.id, messages: [{ role: "user", content: 42 }] },
          "invalid request body: messages[0].content: expected a string, an array of content parts or null, got 42"
        ],
        // missing model
        [{ messages: [{ role: "user", content: "hi" }] }, "invalid request body: model: missing (expected an agent id or name)"],
        // an unknown role
        [
          { model: agent.id, messages: [{ role: "robot", content: "hi" }] },
          `invalid request body: messages[0].role: expected ${roles}, got "robot"`
        ],
        [{ model: agent.id, messages: [] }, "invalid request body: messages: expected an array of at least one message, got an empty array"],
        [{ model: agent.id, messages: "hi" }, "invalid request body: messages: expected an array of at least one message, got \"hi\""],
        [["not", "an", "object"], "invalid request body: expected an object, got [\"not\",\"an\",\"object\"]"]
      ]
      for (const [body, expected] of cases) {
        const answer = yield* call("POST", "/v1/chat/completions", { body })
        assert.strictEqual(answer.status, 400, JSON.stringify(body))
        const error = fields(json(answer).error)
        assert.strictEqual(error.message, expected)
        assert.strictEqual(error.type, "invalid_request_error")
        assert.notMatch(answer.text, schemaDump)
      }
    }))

  it.effect("POST /v1/pipe: the same words", () =>
    Effect.gen(function*() {
      const answer = yield* call("POST", "/v1/pipe", { body: { messages: 3 } })
      assert.strictEqual(answer.status, 400)
      assert.strictEqual(fields(json(answer).error).message, "invalid request body: messages: expected an array of messages, got 3")
      const role = yield* call("POST", "/v1/pipe", { body: { messages: [{ role: "robot", content: "x" }] } })
      assert.strictEqual(fields(json(role).error).message, `invalid request body: messages[0].role: expected ${roles}, got "robot"`)
      assert.notMatch(answer.text + role.text, schemaDump)
    }))

  it.effect("Pipelines routes: the filter and the valves answer FastAPI's detail in the same words", () =>
    Effect.gen(function*() {
      const inlet = yield* call("POST", "/letta/filter/inlet", { body: { body: "x" } })
      assert.strictEqual(inlet.status, 422)
      assert.strictEqual(json(inlet).detail, "invalid request body: body: expected an object, got \"x\"")
      const valves = yield* call("POST", "/letta/valves/update", {
        body: {
          status_events: "loud",
          stream_tokens: true,
          openwebui_tool_calls: "items",
          agent_tags: [],
          user_mode: "shared",
          per_user_models: [],
          colour: "red"
        }
      })
      assert.strictEqual(valves.status, 422)
      assert.strictEqual(
        json(valves).detail,
        "invalid valves: colour: not a known field; status_events: expected \"on\", \"off\" or \"auto\", got \"loud\""
      )
      assert.notMatch(inlet.text + valves.text, schemaDump)
    }))

  it.scoped("WebSocket messages: an error event naming the field; the socket lives on", () =>
    Effect.gen(function*() {
      const ws = yield* wsConnect
      const agent = yield* demoAgent
      const told = (message: unknown) =>
        Effect.gen(function*() {
          yield* ws.send(message)
          const event = yield* ws.next
          assert.strictEqual(event.type, "error")
          const data = fields(event.data)
          assert.strictEqual(data.reason, "InvalidRequest")
          assert.notMatch(String(data.message), schemaDump)
          return data.message
        })
      assert.strictEqual(
        yield* told({ type: "turn", model: agent.id, messages: [{ role: "user", content: 7 }] }),
        "invalid message: messages[0].content: expected a string, an array of content parts or null, got 7"
      )
      assert.strictEqual(yield* told({ type: "shout" }), "invalid message: type: expected \"turn\" or \"cancel\", got \"shout\"")
      assert.strictEqual(yield* told({ nonsense: true }), "invalid message: type: missing (expected \"turn\" or \"cancel\")")
      yield* ws.send({ type: "turn", model: agent.id, messages: [{ role: "user", content: "still alive" }] })
      assert.strictEqual((yield* ws.untilEnd).at(-1)?.type, "done")
    }))
})
