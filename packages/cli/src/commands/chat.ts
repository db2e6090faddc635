/**
 * `letta-pipeline chat MESSAGE`: one turn, streamed to the terminal.
 */
import { Args, Command, Options } from "@effect/cli"
import { Terminal } from "@effect/platform"
import { Pipeline, type StreamEvent } from "@letta-pipeline/core"
import { Effect, Option, Stream } from "effect"

const message = Args.text({ name: "message" }).pipe(Args.withDescription("What to say to the agent"))
const agent = Options.text("agent").pipe(
  Options.withDescription("Agent id (default LETTA_AGENT_ID)"),
  Options.optional
)

const render = (event: StreamEvent.StreamEvent): string => {
  switch (event.type) {
    case "message":
      return event.data.content
    case "tool_call":
      return `\n[tool] ${event.data.name}(${event.data.arguments})\n`
    case "tool_result":
      return `[${event.data.status}] ${event.data.output}\n`
    case "done":
      return "\n"
    default:
      return ""
  }
}

export const chat = Command.make("chat", { message, agent }, (options) =>
  Effect.gen(function*() {
    const pipeline = yield* Pipeline.Pipeline
    const terminal = yield* Terminal.Terminal
    yield* pipeline.pipe({
      model: Option.getOrUndefined(options.agent),
      userMessage: options.message,
      messages: [{ role: "user", content: options.message }],
      body: { stream: true }
    }).pipe(
      Stream.map(render),
      Stream.filter((text) => text !== ""),
      Stream.runForEach((text) => terminal.display(text))
    )
  }).pipe(Effect.provide(Pipeline.layerConfig))).pipe(Command.withDescription("Send one message and stream the answer"))
