// Profiling helper (not part of `pnpm bench`'s results): runs the throughput load against the server started with
// --cpu-prof, then prints the top self-time entries by function and by package.
import { spawn } from "node:child_process"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import * as http from "node:http"
import * as os from "node:os"

const root = new URL("../../", import.meta.url).pathname
const dir = process.argv[2] ?? "/tmp/prof"
const start = (args, env) => new Promise((resolve) => {
  const child = spawn("node", args, { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  const onData = (chunk) => {
    const url = /listening on (http:\/\/[^\s"]+)/i.exec(chunk.toString())?.[1]
    if (url) resolve({ child, url })
  }
  child.stdout.on("data", onData)
  child.stderr.on("data", onData)
})
// the recorded turn
const emulator = await start([`${root}packages/emulator/dist/main.js`], { EMULATOR_PORT: String(40000 + Math.floor(Math.random() * 9999)), EMULATOR_TOKEN_SIZE: "1" })
await new Promise((r) => setTimeout(r, 500))
const agents = await (await fetch(`${emulator.url}/v1/agents/`)).json()
const bytes = await fetch(`${emulator.url}/v1/agents/${agents[0].id}/messages/stream`, {
  method: "POST", headers: { "content-type": "application/json" },
  body: JSON.stringify({ messages: [{ role: "user", content: "Hello! Can you search for Letta memory?" }], stream_tokens: true })
}).then((r) => r.arrayBuffer())
emulator.child.kill()
writeFileSync(`${os.tmpdir()}/letta-prof-turn.sse`, Buffer.from(bytes))
const upstream = await start([`${root}bench/src/upstream.mjs`], { BENCH_UPSTREAM_MODE: process.env.PROFILE_MODE ?? "replay", BENCH_REPLAY_FILE: `${os.tmpdir()}/letta-prof-turn.sse` })
const server = await start(["--cpu-prof", `--cpu-prof-dir=${dir}`, `${root}packages/cli/dist/main.js`, "serve", "--port", "0"], { PIPELINE_STORE: "memory", LETTA_BASE_URL: upstream.url })
const agent = new http.Agent({ keepAlive: true })
const turn = () => new Promise((resolve) => {
  const req = http.request(`${server.url}/v1/chat/completions`, { agent, method: "POST", headers: { "content-type": "application/json" } }, (res) => {
    let n = 0
    res.on("data", (c) => { n += c.toString().split('"content"').length - 1 })
    res.on("end", () => resolve(n))
  })
  req.end(JSON.stringify({ model: "agent-00000000-0000-4000-8000-000000000000", stream: true, messages: [{ role: "user", content: "x" }] }))
})
const until = Date.now() + Number(process.argv[3] ?? 10) * 1000
let events = 0
let turns = 0
await Promise.all(Array.from({ length: 16 }, async () => { while (Date.now() < until) { events += await turn(); turns++ } }))
console.log(`events ${events}, turns ${turns}, events/s ${Math.round(events / Number(process.argv[3] ?? 10))}`)
server.child.kill("SIGINT")
await new Promise((r) => server.child.once("exit", r))
upstream.child.kill()
const file = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).sort().at(-1)
const profile = JSON.parse(readFileSync(`${dir}/${file}`, "utf8"))
const self = new Map()
const byNode = new Map(profile.nodes.map((n) => [n.id, n]))
const dt = new Map()
profile.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
let total = 0
const byPkg = new Map()
for (const [id, t] of dt) {
  const n = byNode.get(id)
  const f = n.callFrame
  const pkg = /node_modules\/\.pnpm\/([^/]+)/.exec(f.url)?.[1]?.replace(/@\d.*$/, "") ?? (/packages\/(\w+)/.exec(f.url)?.[1] ? `ours:${/packages\/(\w+)/.exec(f.url)[1]}` : f.url === "" ? `(${f.functionName || "native"})` : f.url.startsWith("node:") ? "node" : f.url)
  const key = `${f.functionName || "(anon)"} ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber}`
  self.set(key, (self.get(key) ?? 0) + t)
  byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + t)
  total += t
}
const top = (m, k) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, t]) => `${(t / total * 100).toFixed(1).padStart(5)}%  ${name}`).join("\n")
console.log(`total ${(total / 1e6).toFixed(1)} s sampled\n-- by package --\n${top(byPkg, 15)}\n-- by function (self) --\n${top(self, 30)}`)
process.exit(0)
