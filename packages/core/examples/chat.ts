/**
 * One turn with a Letta agent, printed as it streams; exits 1 when the turn fails.
 *
 *   LETTA_BASE_URL=http://127.0.0.1:8283 LETTA_AGENT_ID=agent-a1b2c3d4-0000-4000-8000-000000000001 \
 *     npx -y pnpm@10.34.9 exec tsx --conditions=@letta-pipeline/source packages/core/examples/chat.ts "Hello!"
 */
import { NodeRuntime } from "@effect/platform-node"
import { ChatStream, Pipeline, StreamEvent } from "@letta-pipeline/core"
import { HttpTransport } from "@letta-pipeline/core/node"
import { Console, Effect, Layer, Option, Stream } from "effect"

const program = Effect.gen(function*() {
  const pipeline = yield* Pipeline.Pipeline
  const text = process.argv[2] ?? "Hello!"
  const turn = yield* pipeline.pipe({ messages: [{ role: "user", content: text }], body: {} }).pipe(
    StreamEvent.catchToEvent, // a failure becomes a final `error` event
    Stream.tap((event) => Console.log(JSON.stringify(event))), // every event as it arrives
    ChatStream.collect // the whole turn at the end
  )
  if (Option.isSome(turn.error)) {
    yield* Console.error(`The turn failed: ${turn.error.value.message}`)
    return yield* Effect.sync(() => void (process.exitCode = 1))
  }
  yield* Console.log(`Answer: ${turn.content}`)
})

program.pipe(Effect.provide(Pipeline.layerConfig.pipe(Layer.provide(HttpTransport.layerConfig))), NodeRuntime.runMain)
