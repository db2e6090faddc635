/**
 * Runs the built CLI as a real process.
 */
import { Command } from "@effect/platform"
import { Deferred, Duration, Effect, Option, Stream } from "effect"
import * as net from "node:net"
import { fileURLToPath } from "node:url"

export const main = fileURLToPath(new URL("../../dist/main.js", import.meta.url))

/** The environment without any LETTA_* / PIPELINE_* / EMULATOR_* of the machine running the tests. */
export const cleanEnv = (): Record<string, string> =>
  Object.fromEntries(
    Object.entries(process.env).filter((entry): entry is [string, string] =>
      entry[1] !== undefined && !/^(LETTA_|PIPELINE_|EMULATOR_|NO_COLOR)/.test(entry[0])
    )
  )

export interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const text = <E>(stream: Stream.Stream<Uint8Array, E>) => Stream.mkString(Stream.decodeText(stream))

export const runCli = (
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly stdin?: string } = {}
) =>
  Effect.gen(function*() {
    const process_ = yield* Command.make("node", main, ...args).pipe(
      Command.env({ ...cleanEnv(), ...options.env }),
      Command.feed(options.stdin ?? ""),
      Command.start
    )
    const [stdout, stderr, code] = yield* Effect.all([text(process_.stdout), text(process_.stderr), process_.exitCode], {
      concurrency: "unbounded"
    })
    return { code, stdout, stderr } satisfies Ran
  }).pipe(
    Effect.scoped,
    Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error(`letta-pipeline ${args.join(" ")} did not end`) })
  )

/** A port of 127.0.0.1 that was free a moment ago. */
export const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/**
 * Starts a long-running command and returns at once with its process id; `listening` waits for the URL it logs once
 * listening. Every line it writes goes to `onLine`. Killed with the scope.
 */
export const start = (
  args: ReadonlyArray<string>,
  extraEnv: Record<string, string>,
  onLine: (line: string) => void = () => {}
) =>
  Effect.gen(function*() {
    const process_ = yield* Command.make("node", main, ...args).pipe(
      Command.env({ ...cleanEnv(), ...extraEnv }),
      Command.start
    )
    const listening = yield* Deferred.make<string>()
    yield* process_.stdout.pipe(Stream.decodeText(), Stream.splitLines, Stream.runForEach((line) => Effect.sync(() => onLine(line))), Effect.forkScoped)
    yield* process_.stderr.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runForEach((line) => {
        onLine(line)
        return Option.match(Option.fromNullable(/listening on (http:\/\/[^\s"]+)/i.exec(line)?.[1]), {
          onNone: () => Effect.void,
          onSome: (url) => Effect.asVoid(Deferred.succeed(listening, url))
        })
      }),
      Effect.forkScoped
    )
    return { listening: Deferred.await(listening), pid: Number(process_.pid) }
  })

/** {@link start}, then the URL the command logs once listening (30 s at most). */
export const startAndWait = (
  args: ReadonlyArray<string>,
  extraEnv: Record<string, string>,
  onLine: (line: string) => void = () => {}
) =>
  Effect.flatMap(start(args, extraEnv, onLine), (started) =>
    started.listening.pipe(Effect.timeout(Duration.seconds(30))))

