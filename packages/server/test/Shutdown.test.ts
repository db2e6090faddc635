/**
 * Graceful shutdown of the real server layer: open streams finish, new connections are refused, and streams that
 * outlast the grace period are cut.
 */
import { HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { LettaConfig, Pipeline } from "@letta-pipeline/core"
import { HttpTransport } from "@letta-pipeline/core/node"
import { Emulator } from "@letta-pipeline/emulator"
import { ConfigProvider, Duration, Effect, Either, Exit, Fiber, Layer, Schedule, Scope } from "effect"
import { ConversationStore, Server } from "../src/index.js"
import { contentOf, dataLines } from "./utils/harness.js"

const started = (grace: string) =>
  Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    const settings = LettaConfig.make({ baseUrl: emulator.url })
    const core = Pipeline.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings)))
    const server = Server.layer({ port: 0, host: "127.0.0.1" }).pipe(
      Layer.provide(core),
      Layer.provide(ConversationStore.layerMemory),
      Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["PIPELINE_SHUTDOWN_GRACE", grace]]))))
    )
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(server, scope)
    const address = (yield* HttpServer.HttpServer.pipe(Effect.provide(context))).address
    const url = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : ""
    return { scope, url, emulator }
  })

const streamTurn = (url: string, agentId: string, text: string) =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    client.execute(HttpClientRequest.post(`${url}/v1/chat/completions`).pipe(
      HttpClientRequest.bodyUnsafeJson({ model: agentId, stream: true, messages: [{ role: "user", content: text }] })
    )).pipe(Effect.flatMap((response) => response.text), Effect.scoped))

const whenStreaming = (emulator: Emulator.Service) =>
  emulator.stats.snapshot.pipe(
    Effect.filterOrFail((s) => s.active_streams === 1),
    Effect.retry(Schedule.spaced("10 millis")),
    Effect.timeout(Duration.seconds(5))
  )

describe("graceful shutdown", () => {
  it.live("an open stream finishes, while new connections are refused", () =>
    Effect.gen(function*() {
      const { emulator, scope, url } = yield* started("10")
      const turn = yield* Effect.fork(streamTurn(url, emulator.demoAgent.id, "finish me during shutdown"))
      yield* whenStreaming(emulator)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      const refused = yield* Effect.either(
        Effect.flatMap(HttpClient.HttpClient, (client) => client.get(`${url}/health`)).pipe(
          Effect.retry({ while: (e) => e._tag !== "RequestError", schedule: Schedule.spaced("10 millis"), times: 100 }),
          Effect.scoped
        )
      )
      assert.isTrue(Either.isLeft(refused))
      const text = yield* Fiber.join(turn)
      assert.include(contentOf(dataLines(text).filter((line) => line !== "[DONE]")), "You said: ")
      assert.strictEqual(dataLines(text).at(-1), "[DONE]")
      yield* Fiber.join(closing)
    }).pipe(
      Effect.provide(Layer.merge(Emulator.layer({ tokenDelay: Duration.millis(20) }), NodeHttpClient.layerUndici))
    ), { timeout: 30_000 })

  it.live("a stream outlasting the grace period is cut", () =>
    Effect.gen(function*() {
      const { emulator, scope, url } = yield* started("0.3")
      const turn = yield* Effect.fork(Effect.either(streamTurn(url, emulator.demoAgent.id, "stall [[fault:stall]]")))
      yield* whenStreaming(emulator)
      const start = Date.now()
      yield* Scope.close(scope, Exit.void)
      const elapsed = Date.now() - start
      assert.isBelow(elapsed, 3000)
      assert.isAtLeast(elapsed, 250)
      const result = yield* Fiber.join(turn)
      assert.notInclude(Either.getOrElse(result, () => ""), "data: [DONE]")
    }).pipe(
      Effect.provide(Layer.merge(Emulator.layer({ stall: Duration.seconds(60) }), NodeHttpClient.layerUndici))
    ), { timeout: 30_000 })
})
