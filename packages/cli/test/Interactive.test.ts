/**
 * The interactive session in a real terminal (tmux): prompt, streamed and dimmed answer, line history, Ctrl-C stops a
 * turn (and its upstream stream) but not the session, /exit leaves.
 */
import { NodeContext } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@letta-pipeline/emulator"
import { Duration, Effect, Layer, Schedule } from "effect"
import { main } from "./utils/cli.js"
import { count, terminal } from "./utils/tmux.js"

const session = `letta-pipeline-test-${process.pid}`
const { keys, open, until } = terminal(session)

layer(Layer.mergeAll(Emulator.layer({ tokenDelay: Duration.millis(5) }), NodeContext.layer), { excludeTestServices: true })(
  "interactive chat",
  (it) => {
    it.scoped("a session in a terminal", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        yield* open(`node ${main} chat; echo EXIT=$?; sleep 60`, {
          LETTA_BASE_URL: emulator.url,
          LETTA_AGENT_ID: emulator.demoAgent.id
        })
        yield* until((text) => text.includes("›"), "the prompt")

        yield* keys("hello terminal", "Enter")
        const answered = yield* until((text) => text.includes("You said: \"hello terminal\"") && count(text, "›") >= 2, "the answer")
        assert.include(answered, "\x1b[2m", "reasoning is dimmed")

        // history: the previous line comes back with the up arrow
        yield* keys("Up")
        yield* until((text) => count(text, "› hello terminal") >= 2, "the line from history")
        yield* keys("C-u")

        // Ctrl-C stops the running turn (its upstream stream too), the session goes on
        const before = yield* emulator.stats.snapshot
        yield* keys("think forever [[fault:stall]]", "Enter")
        yield* emulator.stats.snapshot.pipe(
          Effect.filterOrFail((s) => s.active_streams > before.active_streams, () => new Error("no stream")),
          Effect.retry(Schedule.spaced("20 millis")),
          Effect.timeout(Duration.seconds(10))
        )
        yield* until((text) => text.includes("thinking…"), "the spinner while nothing has arrived")
        yield* keys("C-c")
        yield* until((text) => text.includes("(stopped)"), "the stopped turn")
        const after = yield* emulator.stats.snapshot.pipe(
          Effect.filterOrFail((s) => s.client_closed_streams > before.client_closed_streams, () => new Error("still open")),
          Effect.retry(Schedule.spaced("20 millis")),
          Effect.timeout(Duration.seconds(10))
        )
        assert.strictEqual(after.active_streams, before.active_streams)

        yield* keys("still here?", "Enter")
        yield* until(
          (text) => text.includes("Before that you said: \"think forever\"") && count(text, "›") >= 4,
          "an answer after the stop, and the prompt again"
        )

        yield* keys("/exit", "Enter")
        yield* until((text) => text.includes("EXIT=0"), "a clean exit")
      }), { timeout: 90_000 })

    it.scoped("NO_COLOR: no colours and no spinner, even on a terminal", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        yield* open(`node ${main} chat "plain please"; echo EXIT=$?; sleep 60`, {
          LETTA_BASE_URL: emulator.url,
          LETTA_AGENT_ID: emulator.demoAgent.id,
          NO_COLOR: "1"
        })
        const text = yield* until((text) => text.includes("EXIT=0"), "the end of the turn")
        assert.include(text, "You said: \"plain please\"")
        assert.notInclude(text, "\x1b[2m")
        assert.notInclude(text, "thinking…")
      }), { timeout: 60_000 })
  }
)
