/**
 * The Node `HttpClient` of core's Letta calls as an `HttpClient` of its own: what a user of `HttpTransport`'s client
 * gets from a response, over a real loopback socket.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Stream } from "effect"
import * as Http from "../src/internal/http.js"
import * as UndiciHttpClient from "../src/node/UndiciHttpClient.js"
import { agent as testAgent, awaitKeptConnection, holdingAfter, serve } from "./utils/servers.js"

const agentAndClient = (options: Parameters<typeof UndiciHttpClient.make>[1] = {}) =>
  Effect.map(testAgent, (agent) => ({ agent, http: UndiciHttpClient.make(agent, options) }))
const clientWith = (options: Parameters<typeof UndiciHttpClient.make>[1] = {}) =>
  Effect.map(agentAndClient(options), ({ http }) => http)
const client = clientWith()

/** Answers every request with `body`, and echoes its query and `content-type` in headers. */
const server = (body: Buffer) =>
  serve((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      response.writeHead(200, {
        "x-query": new URL(request.url ?? "/", "http://x").search,
        "x-sent": Buffer.concat(chunks).toString("utf8"),
        "set-cookie": ["a=1", "b=2"]
      })
      response.end(body)
    })
  })

describe("UndiciHttpClient", () => {
  it.live("a body read whole gives its exact bytes, and the same text each time it is read", () =>
    Effect.gen(function*() {
      const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x41, 0xc3])
      const started = yield* server(bytes)
      const http = yield* client
      const response = yield* http.get(`${started.url}/binary`)
      const buffer = yield* response.arrayBuffer
      assert.deepStrictEqual([...new Uint8Array(buffer)], [...bytes])
      const again = yield* response.text
      assert.strictEqual(again, bytes.toString("utf8"))
      assert.strictEqual(yield* response.text, again)
    }).pipe(Effect.scoped))

  it.live("the query, the JSON body, the status, headers and cookies go and come as with the platform's client", () =>
    Effect.gen(function*() {
      const started = yield* server(Buffer.from("{\"ok\":true}"))
      const http = yield* client
      const response = yield* http.execute(
        HttpClientRequest.post(`${started.url}/v1/x`).pipe(
          HttpClientRequest.setUrlParam("limit", "5"),
          HttpClientRequest.bodyUnsafeJson({ hello: "world" })
        )
      )
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers["x-query"], "?limit=5")
      assert.strictEqual(response.headers["x-sent"], "{\"hello\":\"world\"}")
      assert.deepStrictEqual(Object.keys(response.cookies.cookies).sort(), ["a", "b"])
      assert.deepStrictEqual(yield* response.json, { ok: true })
    }).pipe(Effect.scoped))

  it.live("a body is streamed once: streaming it after it was read, or twice, is a Decode error", () =>
    Effect.gen(function*() {
      const started = yield* server(Buffer.from("data: x\n\n"))
      const http = yield* client
      const streamed = yield* http.get(started.url)
      const chunks = yield* Stream.runCollect(streamed.stream)
      assert.strictEqual(Buffer.concat(Chunk.toArray(chunks)).toString("utf8"), "data: x\n\n")
      const twice = yield* Effect.flip(Stream.runDrain(streamed.stream))
      assert.strictEqual(twice.reason, "Decode")
      const read = yield* http.get(started.url)
      yield* read.text
      const after = yield* Effect.flip(Stream.runDrain(read.stream))
      assert.strictEqual(after.reason, "Decode")
    }).pipe(Effect.scoped))

  it.live("a body read whole is bounded: one byte past the bound fails, naming it; one at the bound passes", () =>
    Effect.gen(function*() {
      const small = yield* server(Buffer.alloc(1024, 0x61))
      const large = yield* server(Buffer.alloc(1025, 0x61))
      const http = yield* clientWith({ maxBodyBytes: 1024 })
      const text = yield* Effect.flatMap(http.get(small.url), (response) => response.text)
      assert.strictEqual(text.length, 1024)
      const error = yield* Effect.flip(Effect.flatMap(http.get(large.url), (response) => response.text))
      assert.strictEqual(error.reason, "Decode")
      assert.include(String(error.cause), "larger than 1024 bytes")
    }).pipe(Effect.scoped))

  it.live("a URL that cannot be parsed is an InvalidUrl error, not a crash", () =>
    Effect.gen(function*() {
      const http = yield* client
      const error = yield* Effect.flip(http.execute(HttpClientRequest.get("http://[::1")))
      assert.strictEqual(error._tag === "RequestError" && error.reason, "InvalidUrl")
    }).pipe(Effect.scoped))

  it.live("the client is marked as honouring a streamed call's scope and headers timeout", () =>
    Effect.gen(function*() {
      const http: HttpClient.HttpClient = yield* client
      assert.isTrue(Http.honoursStreamCall in http)
    }).pipe(Effect.scoped))

  it.live("a stream whose consumer has all it wants is read to its end in the background, and its connection kept", () =>
    Effect.gen(function*() {
      // Letta's [DONE] comes just before the end of the body: the consumer stops there, the end follows
      const started = yield* holdingAfter("data: [DONE]\n\n")
      const { agent, http } = yield* agentAndClient()
      const response = yield* http.get(started.url)
      Http.consumerIsDone(response)
      const first = yield* Stream.runHead(response.stream)
      assert.isTrue(first._tag === "Some")
      ;(yield* Deferred.await(started.held)).end(": the end\n\n")
      yield* awaitKeptConnection(agent, started.url)
    }).pipe(Effect.scoped))
})
