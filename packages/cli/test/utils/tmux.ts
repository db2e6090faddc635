/**
 * A real terminal for the CLI: a tmux session, its screen, and keys typed into it.
 */
import { Command as Process } from "@effect/platform"
import { Duration, Effect, Schedule } from "effect"

export const tmux = (...args: ReadonlyArray<string>) => Process.make("tmux", ...args).pipe(Process.string)

/** A named session: its screen (with colours), keys, and a wait for what the screen should show. */
export const terminal = (session: string) => {
  const screen = tmux("capture-pane", "-p", "-e", "-J", "-t", session)
  /** Waits until the screen shows what `ready` looks for; fails with the screen after `within` (20 s). */
  const until = (ready: (text: string) => boolean, what: string, within: Duration.DurationInput = Duration.seconds(20)) =>
    screen.pipe(
      Effect.filterOrFail(ready, () => new Error(`waiting for ${what}`)),
      Effect.retry(Schedule.spaced("50 millis")),
      Effect.timeoutFail({ duration: within, onTimeout: () => new Error(`no ${what} on the screen`) }),
      Effect.catchAll((error) => Effect.flatMap(screen, (text) => Effect.fail(new Error(`${error.message}:\n${text}`))))
    )
  const keys = (...keys: ReadonlyArray<string>) => tmux("send-keys", "-t", session, ...keys)
  /** Starts `command` in a new session of 160 × 50 with these variables; killed with the scope. */
  const open = (command: string, env: Record<string, string>) =>
    Effect.acquireRelease(
      tmux(
        "new-session", "-d", "-s", session, "-x", "160", "-y", "50",
        ...Object.entries(env).flatMap(([name, value]) => ["-e", `${name}=${value}`]),
        command
      ),
      () => Effect.ignore(tmux("kill-session", "-t", session))
    )
  return { screen, until, keys, open }
}

export const count = (text: string, needle: string) => text.split(needle).length - 1
