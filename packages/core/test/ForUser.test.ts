/**
 * What a chat user is told (`LettaError.forUser`): the cause in words, never Letta's address nor Letta's own error
 * text, for failures produced by the real client from exact answers; the full message keeps both for the log.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Stream } from "effect"
import { LettaClient, LettaError } from "../src/index.js"
import * as Letta from "./utils/letta.js"
import * as Mock from "./utils/MockHttpClient.js"

const turn = { messages: [{ role: "user" as const, content: "Hello" }], stream_tokens: true }

/** The failure of one streamed turn against an exact answer. */
const failureOf = (respond: Mock.Responder) =>
  Effect.gen(function*() {
    const client = yield* LettaClient.LettaClient
    const result = yield* Effect.either(Stream.runDrain(client.streamMessage(Letta.agentId, turn)))
    if (Either.isRight(result)) return yield* Effect.die("the turn did not fail")
    return result.left
  }).pipe(Effect.provide(Mock.clientLayer(respond)))

const traceback = "Traceback (most recent call last):\n  File \"/app/letta/server/db.py\", line 88\n" +
  "sqlalchemy.exc.OperationalError: could not connect to postgresql://letta:s3cret@db.internal:5432/letta"

const hidden = ["letta.test", "8283", "db.internal", "s3cret", "Traceback", "postgresql://", "/v1/agents"]

const assertClean = (text: string) => {
  for (const part of hidden) assert.notInclude(text, part)
}

describe("what a chat user is told", () => {
  it.effect("Letta's 500 with a traceback holding a database URL: the user reads 'server error' and the ids", () =>
    Effect.gen(function*() {
      const error = yield* failureOf(() => new Response(JSON.stringify({ detail: traceback }), { status: 500, headers: { "content-type": "application/json" } }))
      const told = LettaError.forUser(error)
      assertClean(told)
      assert.include(told, "Letta server error (HTTP 500)")
      assert.include(told, Letta.agentId)
      // the operator's log keeps the cause
      assert.include(error.message, "postgresql://")
      assert.include(error.message, "letta.test")
    }))

  it.effect("an in-band error whose message is Letta's own text: the error type in words", () =>
    Effect.gen(function*() {
      const error = yield* failureOf(() =>
        Mock.sse([Mock.frames(Letta.assistant("Partial"), { ...Letta.errorMessage, error_type: "llm_rate_limit", message: traceback }, "[DONE]")])
      )
      const told = LettaError.forUser(error)
      assertClean(told)
      assert.include(told, "the model provider's rate limit was reached")
      assert.include(error.message, "Traceback")
    }))

  it.effect("Letta down: the kind of failure, not the address", () =>
    Effect.gen(function*() {
      const error = yield* failureOf(() => Mock.connectionRefused)
      const told = LettaError.forUser(error)
      assertClean(told)
      assert.match(told, /^Cannot reach Letta: /)
      assert.include(error.message, "letta.test")
    }))

  it.effect("a proxy's 502 page in front of Letta: the status, not the page", () =>
    Effect.gen(function*() {
      const error = yield* failureOf(() => new Response(`<html><body>Bad gateway: upstream 10.0.3.7:8283 ${traceback}</body></html>`, { status: 502, headers: { "content-type": "text/html" } }))
      const told = LettaError.forUser(error)
      assertClean(told)
      assert.notInclude(told, "10.0.3.7")
      assert.include(told, "502")
    }))

  it("socket errors name the kind of failure only, whatever address they carry", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["connect ECONNREFUSED 10.0.3.7:8283", "the connection was refused"],
      ["read ECONNRESET", "the connection was closed"],
      ["UND_ERR_SOCKET other side closed", "the connection was closed"],
      ["getaddrinfo ENOTFOUND letta.internal", "its host name does not resolve"],
      ["connect ETIMEDOUT 10.0.3.7:8283", "its address cannot be reached"],
      ["something else at 10.0.3.7:8283", "no connection could be made"]
    ]
    for (const [detail, words] of cases) {
      const told = LettaError.forUser(new LettaError.HttpError({ reason: "Transport", request: "POST http://10.0.3.7:8283/v1/x", detail }))
      assert.strictEqual(told, `Cannot reach Letta: ${words}`)
    }
  })

  it("this project's own words stay: a rejected id, a failed run, a model not offered", () => {
    const invalid = new LettaError.LettaError({ reason: "InvalidId", detail: "\"agent-x\" is not a valid agent id" })
    assert.include(LettaError.forUser(invalid), "\"agent-x\" is not a valid agent id")
    const failed = LettaError.fromStopReason("insufficient_credits", { runId: Letta.runId, agentId: Letta.agentId })
    assert.include(LettaError.forUser(failed!), "the Letta account has no credits left")
    assert.include(LettaError.forUser(failed!), "stop reason insufficient_credits")
    const timeout = new LettaError.HttpError({ reason: "Timeout", phase: "first-event", request: "POST http://10.0.3.7:8283/v1/x", detail: "nothing within 60s" })
    assert.strictEqual(LettaError.forUser(timeout), "Letta did not answer in time (first-event timeout)")
    const decode = new LettaError.DecodeError({ reason: "Json", what: "stream event", detail: "Unexpected token", excerpt: traceback })
    assertClean(LettaError.forUser(decode))
  })
})
