/**
 * The interactive session in a real terminal (tmux): prompt, streamed and dimmed answer, line history, Ctrl-C stops a
 * turn (and its upstream stream) but not the session, /exit leaves.
 */
import { Command as Process } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@letta-pipeline/emulator"
import { Duration, Effect, Layer, Schedule } from "effect"
import { main } from "./utils/cli.js"

const session = `letta-pipeline-test-${process.pid}`

const tmux = (...args: ReadonlyArray<string>) => Process.make("tmux", ...args).pipe(Process.string)

const screen = tmux("capture-pane", "-p", "-e", "-J", "-t", session)

/** Waits until the screen shows what `ready` looks for; fails with the screen after 20 s. */
const until = (ready: (text: string) => boolean, what: string) =>
  screen.pipe(
    Effect.filterOrFail(ready, () => new Error(`waiting for ${what}`)),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeoutFail({ duration: Duration.seconds(20), onTimeout: () => new Error(`no ${what} on the screen`) }),
    Effect.catchAll((error) => Effect.flatMap(screen, (text) => Effect.fail(new Error(`${error.message}:\n${text}`))))
  )

const keys = (...keys: ReadonlyArray<string>) => tmux("send-keys", "-t", session, ...keys)

const count = (text: string, needle: string) => text.split(needle).length - 1

layer(Layer.mergeAll(Emulator.layer({ tokenDelay: Duration.millis(5) }), NodeContext.layer), { excludeTestServices: true })(
  "interactive chat",
  (it) => {
    it.scoped("a session in a terminal", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        yield* Effect.acquireRelease(
          tmux(
            "new-session", "-d", "-s", session, "-x", "160", "-y", "50",
            "-e", `LETTA_BASE_URL=${emulator.url}`, "-e", `LETTA_AGENT_ID=${emulator.demoAgent.id}`,
            `node ${main} chat; echo EXIT=$?; sleep 60`
          ),
          () => Effect.ignore(tmux("kill-session", "-t", session))
        )
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
        yield* Effect.acquireRelease(
          tmux(
            "new-session", "-d", "-s", session, "-x", "160", "-y", "50",
            "-e", `LETTA_BASE_URL=${emulator.url}`, "-e", `LETTA_AGENT_ID=${emulator.demoAgent.id}`, "-e", "NO_COLOR=1",
            `node ${main} chat "plain please"; echo EXIT=$?; sleep 60`
          ),
          () => Effect.ignore(tmux("kill-session", "-t", session))
        )
        const text = yield* until((text) => text.includes("EXIT=0"), "the end of the turn")
        assert.include(text, "You said: \"plain please\"")
        assert.notInclude(text, "\x1b[2m")
        assert.notInclude(text, "thinking…")
      }), { timeout: 60_000 })
  }
)
