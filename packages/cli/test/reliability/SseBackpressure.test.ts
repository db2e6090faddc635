/**
 * SSE responses against the built server as its own process: a client that stops reading holds the agent's stream back
 * (the server writes with backpressure and reads from Letta only what the buffers take), and a client that then leaves
 * closes the agent's stream.
 */
import { NodeContext } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Console, Duration, Effect, Layer } from "effect"
import * as http from "node:http"
import { emulatorLayer, longMessage, mb, readUntilHeld, residentMemory, serverBehindRelay, upstreamSettled, withKey } from "./stack.js"

interface Reader {
  readonly request: http.ClientRequest
  readonly status: number
  readonly received: { bytes: number }
}

/** POSTs `body` to `url` and reads the response's first bytes, then stops reading; the request is destroyed with the scope. */
const stopAfterFirstBytes = (url: string, body: string) =>
  Effect.acquireRelease(
    Effect.async<Reader, Error>((resume) => {
      const received = { bytes: 0 }
      const request = http.request(url, { method: "POST", headers: withKey }, (response) => {
        response.once("data", (chunk: Buffer) => {
          received.bytes += chunk.length
          response.pause()
          resume(Effect.succeed({ request, status: response.statusCode ?? 0, received }))
        })
      })
      request.on("error", (error) => resume(Effect.fail(error)))
      request.end(body)
    }),
    ({ request }) => Effect.sync(() => request.destroy())
  )

// 16 characters per token frame: the answer to a message of 3 MB is ~380 000 frames, ~150 MB from Letta
const Live = Layer.mergeAll(emulatorLayer({ tokenSize: 16 }), NodeContext.layer)

layer(Live, { excludeTestServices: true })("SSE backpressure", (it) => {
  it.effect("an SSE client that stops reading holds the agent's stream back; when it leaves, the agent's stream closes", () =>
    Effect.gen(function*() {
      const { base, emulator, relay } = yield* serverBehindRelay()
      const before = yield* residentMemory(base)
      const streamsBefore = (yield* emulator.stats.snapshot).total_streams
      const reader = yield* stopAfterFirstBytes(
        `${base}/v1/chat/completions`,
        JSON.stringify({ model: emulator.demoAgent.id, stream: true, messages: [{ role: "user", content: longMessage }], user: "slow-sse-reader" })
      )
      assert.strictEqual(reader.status, 200)
      const streamOver = Effect.map(emulator.stats.snapshot, (stats) => stats.total_streams > streamsBefore && stats.active_streams === 0)
      const held = yield* readUntilHeld(() => relay.sent.bytes, streamOver, 1e6, Duration.seconds(3)).pipe(Effect.timeout("180 seconds"))
      const during = yield* residentMemory(base)
      const stats = yield* emulator.stats.snapshot
      yield* Console.log(
        `slow SSE reader: the server read ${mb(held)} from Letta and stopped (the client had read ${reader.received.bytes} bytes); ` +
          `resident memory ${mb(before)} → ${mb(during)}`
      )
      // the whole answer is ~150 MB from Letta (all of it read without backpressure); held back, the server reads what
      // the sockets' buffers take
      assert.isBelow(held, 40e6, "read from Letta while the client reads nothing")
      assert.strictEqual(stats.active_streams, 1, "the agent's stream is still open, held back")

      // leaving: the server stops the turn and closes the agent's stream
      reader.request.destroy()
      yield* Effect.orDie(upstreamSettled(Duration.seconds(15)))
      const after = yield* emulator.stats.snapshot
      assert.strictEqual(after.client_closed_streams, stats.client_closed_streams + 1)
    }).pipe(Effect.scoped), { timeout: 240_000 })
})
