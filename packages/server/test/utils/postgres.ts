/**
 * A real PostgreSQL server for tests: a fresh cluster in a temporary folder, listening on a free loopback port,
 * stopped and deleted with the scope. Uses Debian's `postgresql` binaries; as root it runs them as `postgres`
 * (initdb refuses root).
 */
import { Command } from "@effect/platform"
import { Duration, Effect, Schedule } from "effect"
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

const binaries = (): string => {
  const root = "/usr/lib/postgresql"
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : []
  const found = versions.map((version) => path.join(root, version, "bin")).find((bin) => existsSync(path.join(bin, "initdb")))
  if (found === undefined) throw new Error("PostgreSQL is not installed (Debian package postgresql); .ci/run installs it")
  return found
}

const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

const asRoot = process.getuid?.() === 0

/** `command args…`, as `postgres` when we are root. */
const pg = (bin: string, ...args: ReadonlyArray<string>) =>
  asRoot ? Command.make("runuser", "-u", "postgres", "--", bin, ...args) : Command.make(bin, ...args)

export interface Postgres {
  readonly url: string
  readonly port: number
}

export const startPostgres = Effect.gen(function*() {
  const bin = binaries()
  const dir = mkdtempSync(path.join(os.tmpdir(), "letta-pipeline-pg-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  if (asRoot) yield* Command.exitCode(Command.make("chown", "postgres", dir))
  const data = path.join(dir, "data")
  const init = yield* Command.string(
    pg(path.join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
  )
  if (!init.includes("Success")) return yield* Effect.fail(new Error(`initdb failed: ${init}`))
  const port = yield* freePort
  const server = yield* pg(
    path.join(bin, "postgres"), "-D", data, "-p", String(port), "-k", dir,
    "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"
  ).pipe(Command.start)
  yield* Effect.addFinalizer(() => Effect.ignore(server.kill("SIGINT")))
  yield* Command.exitCode(Command.make(path.join(bin, "pg_isready"), "-h", "127.0.0.1", "-p", String(port))).pipe(
    Effect.filterOrFail((code) => code === 0, () => new Error("not ready")),
    Effect.retry(Schedule.spaced("100 millis")),
    Effect.timeoutFail({ duration: Duration.seconds(30), onTimeout: () => new Error("PostgreSQL did not start") })
  )
  return { port, url: `postgres://postgres@127.0.0.1:${port}/postgres` } satisfies Postgres
})
