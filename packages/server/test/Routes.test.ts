import { HttpClient, HttpClientRequest, HttpLayerRouter } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { LettaClient, LettaConfig, LettaError, Pipeline, PipelineHooks } from "@letta-pipeline/core"
import { Effect, Layer, Stream } from "effect"
import { Routes } from "../src/index.js"

const agentId = "agent-6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"

const letta = LettaClient.layerTest({
  streamMessage: (_agent, body) => {
    const text = typeof body.messages[0]?.content === "string" ? body.messages[0].content : ""
    if (text === "fail") {
      return Stream.fail(new LettaError.LettaError({ reason: "NotFound", status: 404, detail: "Agent not found" }))
    }
    return Stream.make(
      { message_type: "assistant_message" as const, id: "message-1", date: "d", otid: "o-1", content: `echo: ${text}` },
      { message_type: "stop_reason" as const, stop_reason: "end_turn" }
    )
  }
})

const App = HttpLayerRouter.serve(Routes.routes, { disableLogger: true }).pipe(
  Layer.provide(Pipeline.layer.pipe(
    Layer.provide([letta, LettaConfig.layer(), PipelineHooks.layerIdentity])
  )),
  Layer.provideMerge(NodeHttpServer.layerTest)
)

layer(App, { excludeTestServices: true })("thin server", (it) => {
  it.effect("GET /health", () =>
    Effect.gen(function*() {
      const response = yield* HttpClient.get("/health")
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(yield* response.json, { status: "ok" })
    }))

  it.effect("POST /v1/pipe streams events as SSE with event names and ids", () =>
    Effect.gen(function*() {
      const response = yield* HttpClient.execute(
        HttpClientRequest.post("/v1/pipe").pipe(
          HttpClientRequest.bodyUnsafeJson({ model: agentId, messages: [{ role: "user", content: "hi" }] })
        )
      )
      assert.strictEqual(response.status, 200)
      assert.include(response.headers["content-type"], "text/event-stream")
      const text = yield* response.text
      assert.strictEqual(
        text,
        // `message` is SSE's default event name, so the encoder writes no event line for it
        "id: 1\ndata: {\"type\":\"message\",\"data\":{\"id\":\"o-1\",\"content\":\"echo: hi\"}}\n\n" +
          "id: 2\nevent: done\ndata: {\"type\":\"done\",\"data\":{\"stop_reason\":\"end_turn\",\"run_id\":null}}\n\n"
      )
    }))

  it.effect("a failing turn ends with an error event", () =>
    Effect.gen(function*() {
      const response = yield* HttpClient.execute(
        HttpClientRequest.post("/v1/pipe").pipe(
          HttpClientRequest.bodyUnsafeJson({ model: agentId, messages: [{ role: "user", content: "fail" }] })
        )
      )
      const text = yield* response.text
      assert.include(text, "event: error\n")
      assert.include(text, "\"reason\":\"NotFound\"")
    }))

  it.effect("an invalid body is a 400 with a JSON error naming the problem", () =>
    Effect.gen(function*() {
      const response = yield* HttpClient.execute(
        HttpClientRequest.post("/v1/pipe").pipe(HttpClientRequest.bodyUnsafeJson({ messages: "nope" }))
      )
      assert.strictEqual(response.status, 400)
      const body = yield* response.json
      assert.include(JSON.stringify(body), "messages")
    }))
})
