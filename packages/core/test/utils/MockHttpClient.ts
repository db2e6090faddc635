/**
 * An `HttpClient` that records every request and answers with a web `Response` chosen by the test.
 */
import { HttpClient, HttpClientError, type HttpClientRequest, HttpClientResponse } from "@effect/platform"
import { Context, Effect, Layer, Ref } from "effect"
import { LettaClient, LettaConfig, type LettaRuns } from "../../src/index.js"

export interface Recorded {
  readonly method: string
  /** Path and query, without the base URL. */
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

export class Requests extends Context.Tag("test/Requests")<Requests, Ref.Ref<ReadonlyArray<Recorded>>>() {}

export const baseUrl = "http://letta.test:8283"

const bodyText = (request: HttpClientRequest.HttpClientRequest): string =>
  request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""

/** Answer with this to fail the call as a refused connection does. */
export const connectionRefused = Symbol.for("test/MockHttpClient/connectionRefused")

export type Responder = (request: Recorded) => Response | Effect.Effect<Response> | typeof connectionRefused

/** The body ends in an error when the request is aborted, as a real client's does. */
const abortable = (response: Response, signal: AbortSignal): Response => {
  if (response.body === null) return response
  const reader = response.body.getReader()
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      signal.addEventListener("abort", () => {
        controller.error(new DOMException("This operation was aborted", "AbortError"))
        reader.cancel().catch(() => {})
      }, { once: true })
    },
    async pull(controller) {
      const { done, value } = await reader.read()
      if (done) controller.close()
      else controller.enqueue(value)
    }
  })
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers })
}

export const layer = (respond: Responder): Layer.Layer<HttpClient.HttpClient | Requests> =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.map(Requests, (requests) =>
      HttpClient.make((request, url, signal) =>
        Effect.gen(function*() {
          const recorded: Recorded = {
            method: request.method,
            url: `${url.pathname}${url.search}`,
            headers: request.headers,
            body: bodyText(request)
          }
          yield* Ref.update(requests, (all) => [...all, recorded])
          const answer = respond(recorded)
          if (answer === connectionRefused) {
            const cause = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8283"), { code: "ECONNREFUSED" })
            return yield* new HttpClientError.RequestError({ request, reason: "Transport", cause })
          }
          const response = Effect.isEffect(answer) ? yield* answer : answer
          return HttpClientResponse.fromWeb(request, abortable(response, signal))
        })
      ))
  ).pipe(Layer.provideMerge(Layer.effect(Requests, Ref.make<ReadonlyArray<Recorded>>([]))))

/** A LettaClient and its LettaRuns over the mock, with the given settings. */
export const clientLayer = (
  respond: Responder,
  settings: Parameters<typeof LettaConfig.make>[0] = {}
): Layer.Layer<LettaClient.LettaClient | LettaRuns.LettaRuns | LettaConfig.LettaConfig | Requests> =>
  LettaClient.layer.pipe(
    Layer.provideMerge(layer(respond)),
    Layer.provideMerge(LettaConfig.layer({ baseUrl, ...settings }))
  )

export const recorded = Effect.flatMap(Requests, Ref.get)

const encoder = new TextEncoder()

/** An SSE response whose body arrives in exactly these chunks. */
export const sse = (chunks: ReadonlyArray<string | Uint8Array>, init: ResponseInit = {}): Response =>
  new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk)
        controller.close()
      }
    }),
    { status: 200, headers: { "content-type": "text/event-stream; charset=utf-8" }, ...init }
  )

/** An SSE response that sends these chunks and then stays open without a byte more. */
export const sseThenSilence = (chunks: ReadonlyArray<string>): Response =>
  new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(encoder.encode(chunk))
      }
    }),
    { status: 200, headers: { "content-type": "text/event-stream" } }
  )

export const json = (body: unknown, status = 200): Response =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } })

/** `data: <json>\n\n` for each message. */
export const frames = (...messages: ReadonlyArray<unknown>): string =>
  messages.map((message) => `data: ${typeof message === "string" ? message : JSON.stringify(message)}\n\n`).join("")
