/**
 * Traces reach an OTLP/HTTP collector (a loopback receiver here) when OTEL_EXPORTER_OTLP_ENDPOINT is set.
 */
import { HttpClient, HttpClientRequest, HttpMiddleware, HttpServerRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Emulator } from "@letta-pipeline/emulator"
import { Duration, Effect, Exit, FiberRef, Layer, Option, Ref, Schedule, Scope } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as ServerConfig from "../src/ServerConfig.js"
import * as Telemetry from "../src/Telemetry.js"
import { serverLayer, serverUrl } from "./utils/harness.js"

interface Span {
  readonly name: string
  readonly traceId: string
}

/** A loopback OTLP/HTTP receiver that keeps the spans of every JSON export. */
const collector = Effect.gen(function*() {
  const spans = yield* Ref.make<ReadonlyArray<Span>>([])
  const server = yield* Effect.acquireRelease(
    Effect.async<http.Server>((resume) => {
      const s = http.createServer((request, response) => {
        let body = ""
        request.on("data", (chunk) => (body += chunk))
        request.on("end", () => {
          const parsed = JSON.parse(body) as {
            resourceSpans?: ReadonlyArray<{ scopeSpans?: ReadonlyArray<{ spans?: ReadonlyArray<Span> }> }>
          }
          const received = (parsed.resourceSpans ?? []).flatMap((r) => (r.scopeSpans ?? []).flatMap((s) => s.spans ?? []))
          Effect.runSync(Ref.update(spans, (all) => [...all, ...received]))
          response.writeHead(200, { "content-type": "application/json" })
          response.end("{}")
        })
      })
      s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
    }),
    (s) => Effect.async<void>((resume) => {
      s.close(() => resume(Effect.void))
    })
  )
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans }
})

describe("OpenTelemetry", () => {
  it.live("a chat request and the Letta call it makes arrive as spans of one trace", () =>
    Effect.gen(function*() {
      const otlp = yield* collector
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        serverLayer({ server: { otlpEndpoint: Option.some(otlp.url) } }),
        scope
      )
      yield* Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const agent = yield* Effect.map(Emulator.Emulator, (e) => e.demoAgent)
        const url = yield* serverUrl
        const response = yield* client.execute(HttpClientRequest.post(`${url}/v1/chat/completions`).pipe(
          HttpClientRequest.bodyUnsafeJson({ model: agent.id, messages: [{ role: "user", content: "trace me" }] })
        ))
        assert.strictEqual(response.status, 200)
      }).pipe(Effect.scoped, Effect.provide(Layer.merge(Layer.succeedContext(context), NodeHttpClient.layerUndici)))
      yield* Scope.close(scope, Exit.void) // flushes the batch processor
      const spans = yield* Ref.get(otlp.spans).pipe(
        Effect.filterOrFail((all) => all.length > 0),
        Effect.retry(Schedule.spaced("20 millis")),
        Effect.timeout(Duration.seconds(10))
      )
      const server = spans.find((s) => s.name === "http.server POST")
      assert.isDefined(server)
      const upstream = spans.find((s) => s.name === "http.client POST" && s.traceId === server?.traceId)
      assert.isDefined(upstream, `spans: ${spans.map((s) => s.name).join(", ")}`)
      // the request's own steps are traced too (Telemetry.span, on while exporting)
      const prepare = spans.find((s) => s.name === "ChatTurn.prepare" && s.traceId === server?.traceId)
      assert.isDefined(prepare, `spans: ${spans.map((s) => s.name).join(", ")}`)
    }).pipe(Effect.scoped), { timeout: 30_000 })

  it.effect("without an endpoint no span is made (they would have nowhere to go); with one they are", () =>
    Effect.gen(function*() {
      const tracing = (otlpEndpoint: Option.Option<string>) =>
        Effect.gen(function*() {
          const enabled = yield* FiberRef.get(FiberRef.currentTracerEnabled)
          const span = yield* Effect.currentSpan.pipe(Effect.option, Effect.withSpan("probe"))
          // the platform's server middleware makes a request's span unless this says not to
          const serverSpans = !(yield* FiberRef.get(HttpMiddleware.currentTracerDisabledWhen))(
            HttpServerRequest.fromWeb(new Request("http://127.0.0.1/v1/chat/completions"))
          )
          return {
            enabled,
            spanIsRecorded: Option.isSome(span) && span.value.sampled && span.value.name === "probe",
            serverSpans
          }
        }).pipe(
          Effect.scoped,
          Effect.provide(Telemetry.layer.pipe(Layer.provide(ServerConfig.layer({ otlpEndpoint }))))
        )
      const off = yield* tracing(Option.none())
      assert.deepStrictEqual(off, { enabled: false, spanIsRecorded: false, serverSpans: false })
      const on = yield* tracing(Option.some("http://127.0.0.1:9"))
      assert.deepStrictEqual(on, { enabled: true, spanIsRecorded: true, serverSpans: true })
    }))

  it.effect("Telemetry.span: a span when spans are made, and none at all, not even a no-op one, when they are not", () =>
    Effect.gen(function*() {
      const probe = Effect.currentSpan.pipe(Effect.option, Effect.map(Option.map((span) => span.name)))
      const on = yield* probe.pipe(Telemetry.span("probe"))
      assert.deepStrictEqual(on, Option.some("probe"))
      const off = yield* probe.pipe(Telemetry.span("probe"), Effect.provide(Layer.setTracerEnabled(false)))
      assert.deepStrictEqual(off, Option.none())
      // what Effect.withSpan does instead: a no-op span provided to the effect, at the cost of a copied context
      const plain = yield* probe.pipe(Effect.withSpan("probe"), Effect.provide(Layer.setTracerEnabled(false)))
      assert.isTrue(Option.isSome(plain))
    }))
})
