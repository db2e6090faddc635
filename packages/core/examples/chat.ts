/**
 * One turn with a Letta agent, printed as it streams.
 *
 *   LETTA_BASE_URL=http://localhost:8283 LETTA_AGENT_ID=agent-… npx -y pnpm@10.34.9 exec tsx packages/core/examples/chat.ts "Hello!"
 */
import { NodeRuntime } from "@effect/platform-node"
import { ChatStream, Pipeline, StreamEvent } from "@letta-pipeline/core"
import { Console, Effect, Stream } from "effect"

const program = Effect.gen(function*() {
  const pipeline = yield* Pipeline.Pipeline
  const text = process.argv[2] ?? "Hello! What do you remember about me?"
  const events = pipeline.pipe({ messages: [{ role: "user", content: text }], body: {} })

  const turn = yield* events.pipe(
    // a failure becomes a final `error` event instead of a failed stream
    StreamEvent.catchToEvent,
    // every event as it arrives …
    Stream.tap((event) => Console.log(JSON.stringify(event))),
    // … and the whole turn at the end
    ChatStream.collect
  )
  yield* Console.log(`\nAnswer: ${turn.content}\nStop reason: ${turn.stopReason}`)
})

program.pipe(Effect.provide(Pipeline.layerConfig), NodeRuntime.runMain)
