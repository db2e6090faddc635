/**
 * Two `letta-pipeline serve` processes sharing one real PostgreSQL: concurrent first messages of one chat end in one
 * Letta conversation, the map survives a restart, and a database that is down is a clear start-up error.
 */
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@letta-pipeline/emulator"
import { Effect, Layer } from "effect"
// the PostgreSQL test server of core's suite, shared rather than copied
import { startPostgres } from "../../server/test/utils/postgres.js"
import { runCli, startAndWait } from "./utils/cli.js"

const post = (url: string, chatId: string, content: string) =>
  Effect.tryPromise(async () => {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-openwebui-chat-id": chatId },
      body: JSON.stringify({ model: "demo-agent", stream: false, messages: [{ role: "user", content }] })
    })
    const body = await response.json() as { choices?: ReadonlyArray<{ message?: { content?: string } }> }
    return { status: response.status, content: body.choices?.[0]?.message?.content ?? "" }
  })

layer(Layer.mergeAll(Emulator.layer(), NodeContext.layer, NodeHttpClient.layerUndici), { excludeTestServices: true })(
  "replicas over PostgreSQL",
  (it) => {
    it.effect("concurrent first messages on two replicas make one conversation; the map outlives a replica", () =>
      Effect.gen(function*() {
        const pg = yield* startPostgres
        const emulator = yield* Emulator.Emulator
        const env = { LETTA_BASE_URL: emulator.url, DATABASE_URL: pg.url }
        const created = Effect.map(emulator.stats.snapshot, (s) => s.requests_by_route["POST /v1/conversations/"] ?? 0)

        // both start at once, so their migrations race too
        const [a, b] = yield* Effect.all(
          [startAndWait(["serve", "--port", "0"], env), startAndWait(["serve", "--port", "0"], env)],
          { concurrency: 2 }
        )
        const before = yield* created
        const first = yield* Effect.all(
          Array.from({ length: 6 }, (_, i) => post(i % 2 === 0 ? a : b, "chat-shared", `first message ${i}`)),
          { concurrency: "unbounded" }
        )
        for (const answer of first) assert.strictEqual(answer.status, 200)
        assert.strictEqual((yield* created) - before, 1)

        const viaB = yield* post(b, "chat-shared", "and now?")
        assert.include(viaB.content, "Before that you said: \"first message")

        // a third replica, started later, finds the same thread
        const c = yield* startAndWait(["serve", "--port", "0"], env)
        const viaC = yield* post(c, "chat-shared", "still the same thread?")
        assert.include(viaC.content, "Before that you said: \"and now?\"")
        assert.strictEqual((yield* created) - before, 1)
      }).pipe(Effect.scoped), { timeout: 120_000 })

    it.effect("PostgreSQL down at start: one line naming the database (without its password), exit 1", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const ran = yield* runCli(["serve", "--port", "0"], {
          env: { LETTA_BASE_URL: emulator.url, DATABASE_URL: "postgres://app:s3cret@127.0.0.1:9/letta" }
        })
        assert.strictEqual(ran.code, 1)
        const lines = ran.stderr.trim().split("\n").filter((line) => !line.startsWith("timestamp="))
        assert.strictEqual(lines.length, 1, ran.stderr)
        assert.include(lines[0], "Conversation store (postgres) unavailable: cannot use the database at 127.0.0.1:9")
        assert.notInclude(ran.stderr, "s3cret")
      }), { timeout: 60_000 })
  }
)
