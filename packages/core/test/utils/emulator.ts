/**
 * The emulator from the workspace's sources as a child process (core cannot import it: the emulator depends on core),
 * on a free port, killed with the scope.
 */
import { Command, type CommandExecutor } from "@effect/platform"
import { Duration, Effect, Schedule, type Scope } from "effect"
import * as net from "node:net"
import * as path from "node:path"
import { coreDir } from "./examples.js"

const repoDir = path.resolve(coreDir, "..", "..")

/** The emulator's demo agent, which every emulator has. */
export const demoAgentId = "agent-a1b2c3d4-0000-4000-8000-000000000001"

const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Starts an emulator; its URL once it answers. */
export const start: Effect.Effect<string, never, CommandExecutor.CommandExecutor | Scope.Scope> = Effect.gen(
  function*() {
    const port = yield* freePort
    const main = path.join(repoDir, "packages", "emulator", "src", "main.ts")
    yield* Command.make(process.execPath, "--import", "tsx", "--conditions=@letta-pipeline/source", main).pipe(
      Command.workingDirectory(repoDir),
      Command.env({ EMULATOR_PORT: String(port) }),
      Command.start,
      Effect.orDie
    )
    const url = `http://127.0.0.1:${port}`
    yield* Effect.tryPromise(() => fetch(`${url}/v1/health/`)).pipe(
      Effect.filterOrFail((response) => response.ok),
      Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo(Duration.seconds(60)))),
      Effect.orDieWith(() => new Error(`the emulator did not answer on ${url} within 60 s`))
    )
    return url
  }
)
