/**
 * The processes a benchmark runs: each on loopback, found by the URL it logs, stopped at the end; optionally pinned
 * to one core with `taskset`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import * as net from "node:net"
import { fileURLToPath } from "node:url"

export const root = fileURLToPath(new URL("../../", import.meta.url))
export const emulatorMain = `${root}packages/emulator/dist/main.js`
export const cliMain = `${root}packages/cli/dist/main.js`

export interface Running {
  readonly url: string
  readonly pid: number
  readonly lines: Array<string>
  readonly stop: () => Promise<void>
}

const running = new Set<ChildProcess>()
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL")
})

/** Starts `node <args>` and resolves with the first `http://…` URL a line of its output names after `listening`. */
export const startNode = (
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  options: { readonly core?: number; readonly nodeOptions?: ReadonlyArray<string> } = {}
): Promise<Running> =>
  new Promise((resolve, reject) => {
    const command = options.core === undefined ? ["node"] : ["taskset", "-c", String(options.core), "node"]
    const child = spawn(command[0]!, [...command.slice(1), ...(options.nodeOptions ?? []), ...args], {
      env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    running.add(child)
    const lines: Array<string> = []
    let found = false
    const timer = setTimeout(() => reject(new Error(`${args.join(" ")} did not start: ${lines.slice(-5).join("\n")}`)), 60_000)
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() === "") continue
        if (lines.length < 2_000) lines.push(line)
        const url = /listening on (http:\/\/[^\s"]+)/i.exec(line)?.[1]
        if (!found && url !== undefined) {
          found = true
          clearTimeout(timer)
          resolve({
            url,
            pid: child.pid ?? 0,
            lines,
            stop: () =>
              new Promise<void>((done) => {
                if (child.exitCode !== null) return done()
                child.once("exit", () => done())
                child.kill("SIGTERM")
                setTimeout(() => child.kill("SIGKILL"), 5_000).unref()
              }).then(() => {
                running.delete(child)
              })
          })
        }
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.once("exit", (code) => {
      if (!found) reject(new Error(`${args.join(" ")} exited with ${code}: ${lines.slice(-5).join("\n")}`))
    })
  })

export const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

/** Resident memory of a process, in bytes (Linux). */
export const residentBytes = (pid: number): number => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))
  return Number(/(\d+)/.exec(line ?? "")?.[1] ?? 0) * 1024
}

/** CPU time a process has used so far (user + system), in milliseconds (Linux, `/proc/<pid>/stat`, 10 ms ticks). */
export const cpuMillis = (pid: number): number => {
  // the fields after the command name, which may hold spaces, start after its closing parenthesis
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
  const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0)
  return ticks * 10
}

/**
 * How often the process's main thread (its event loop) has gone to sleep and woken again: its voluntary context
 * switches (Linux's `/proc/<pid>/status`).
 */
export const wakeups = (pid: number): number =>
  Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN)

/** The emulator as its own process; its URL and demo agent. */
export const startEmulator = async (env: Record<string, string> = {}, core?: number) => {
  const port = await freePort()
  const emulator = await startNode([emulatorMain], { EMULATOR_PORT: String(port), ...env }, core === undefined ? {} : { core })
  const demoAgent = () => emulator.lines.map((line) => /Demo agent: (agent-[0-9a-f-]+)/.exec(line)?.[1]).find((id) => id !== undefined)
  for (let waited = 0; demoAgent() === undefined && waited < 5_000; waited += 20) await new Promise((r) => setTimeout(r, 20))
  const agent = demoAgent()
  if (agent === undefined) throw new Error("the emulator named no demo agent")
  return { ...emulator, agent }
}

/** letta-pipeline's server as its own process. */
export const startServer = (env: Record<string, string>, core?: number) =>
  startNode([cliMain, "serve", "--port", "0"], { PIPELINE_STORE: "memory", ...env }, core === undefined ? {} : { core })
