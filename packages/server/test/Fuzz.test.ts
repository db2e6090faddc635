/**
 * Request bodies fuzzed (fast-check): random JSON, valid bodies with a field replaced, random bytes and invalid UTF-8,
 * deep nesting, bodies past the limit (also chunked, without a length). Every answer is a success or a clear 4xx with
 * a JSON error; never a 500, a crash or a hang; the server keeps serving.
 */
import { assert, layer } from "@effect/vitest"
import { Console, Effect, FastCheck as fc } from "effect"
import * as http from "node:http"
import { demoAgent, serverLayer, serverUrl } from "./utils/harness.js"

const maxBodyBytes = 64 * 1024
const runsPerRoute = 150

interface Answer {
  readonly status: number
  readonly contentType: string
  readonly text: string
}

/** A raw POST over node:http, so that any bytes can be sent. */
const post = (url: string, body: Uint8Array | string, chunked = false) =>
  Effect.async<Answer, Error>((resume) => {
    const request = http.request(url, {
      method: "POST",
      headers: chunked ? { "content-type": "application/json" } : { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
    }, (response) => {
      const parts: Array<Buffer> = []
      response.on("data", (part: Buffer) => parts.push(part))
      response.on("end", () =>
        resume(Effect.succeed({
          status: response.statusCode ?? 0,
          contentType: String(response.headers["content-type"] ?? ""),
          text: Buffer.concat(parts).toString("utf8")
        })))
    })
    // a server that answers 413 early may close before the whole body is written
    request.on("error", (error) => resume(Effect.fail(error)))
    request.end(body)
  })

const routes = ["/v1/chat/completions", "/v1/pipe", "/letta/filter/inlet", "/letta/valves/update"] as const

/** A clear answer: success, or a 4xx whose JSON body says what was wrong. */
const clear = (answer: Answer): boolean => {
  if (answer.status === 200) return true
  if (answer.status < 400 || answer.status >= 500) return false
  const body = JSON.parse(answer.text) as { error?: { message?: string }; detail?: unknown }
  return (body.error?.message ?? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? ""))) !== ""
}

layer(serverLayer({ server: { maxBodyBytes } }), { excludeTestServices: true })("fuzzed request bodies", (it) => {
  it.effect(`${runsPerRoute} random bodies per route: every answer is a success or a clear 4xx`, () =>
    Effect.gen(function*() {
      const base = yield* serverUrl
      const agent = yield* demoAgent
      const valid = { model: agent.id, messages: [{ role: "user", content: "fuzz" }], stream: false }
      const statuses = new Map<number, number>()
      let cases = 0
      const body = fc.oneof(
        fc.jsonValue({ maxDepth: 6 }).map((value) => JSON.stringify(value)),
        // a valid body with one field replaced by anything
        fc.tuple(fc.constantFrom("model", "messages", "stream", "metadata", "chat_id", "stream_options"), fc.jsonValue({ maxDepth: 4 }))
          .map(([field, value]) => JSON.stringify({ ...valid, [field]: value })),
        // messages of any shape
        fc.array(fc.record({ role: fc.oneof(fc.constantFrom("user", "assistant", "system", "tool"), fc.string()), content: fc.jsonValue({ maxDepth: 3 }) }), { maxLength: 4 })
          .map((messages) => JSON.stringify({ ...valid, messages })),
        // bytes, invalid UTF-8 included
        fc.uint8Array({ maxLength: 2048 }),
        fc.constant(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]))
      )
      for (const route of routes) {
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(body, async (sent) => {
              const answer = await Effect.runPromise(post(`${base}${route}`, sent))
              cases += 1
              statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
              return clear(answer)
            }),
            { numRuns: runsPerRoute, seed: 20261124 }
          )
        )
      }
      // deep nesting: within the limit (a 400 naming the field) and past it (413)
      for (const depth of [1_000, 30_000, 1_000_000]) {
        const deep = `{"model":${"[".repeat(depth)}${"]".repeat(depth)}}`
        const answer = yield* post(`${base}/v1/chat/completions`, deep)
        cases += 1
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
        assert.isTrue(answer.status === 400 || answer.status === 413, `depth ${depth}: ${answer.status}`)
      }
      yield* Console.log(
        `request fuzzing: ${cases} cases; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`
      )
      assert.isFalse(statuses.has(500))
      const still = yield* post(`${base}/v1/chat/completions`, JSON.stringify(valid))
      assert.strictEqual(still.status, 200)
    }), { timeout: 240_000 })

  it.effect("the body limit holds while reading: a chunked body without a length is cut at the limit", () =>
    Effect.gen(function*() {
      const base = yield* serverUrl
      const answer = yield* Effect.async<Answer, Error>((resume) => {
        const request = http.request(`${base}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" } }, (response) => {
          const parts: Array<Buffer> = []
          response.on("data", (part: Buffer) => parts.push(part))
          response.on("end", () =>
            resume(Effect.succeed({ status: response.statusCode ?? 0, contentType: "", text: Buffer.concat(parts).toString() })))
        })
        request.on("error", () => {})
        // 64 times the limit, if the server kept reading
        const chunk = Buffer.alloc(64 * 1024, 0x20)
        let written = 0
        const write = () => {
          while (written < 64 * maxBodyBytes && !request.destroyed) {
            written += chunk.length
            if (!request.write(chunk)) return request.once("drain", write)
          }
          request.end()
        }
        write()
      })
      assert.strictEqual(answer.status, 413)
      assert.include(answer.text, "body_too_large")
    }))
})
