/**
 * `pnpm bench`: what the bridge costs, on loopback, each part bounded to a few minutes. Prints a table per part and
 * writes `bench/results/<part>.json` with the machine it ran on. `pnpm bench latency throughput` runs only those parts.
 */
import { execSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import * as http from "node:http"
import { agent, percentile, streamTurn, type Turn } from "./clients.js"
import { peers } from "./peers.js"
import { cliMain, cpuMillis, type Running, residentBytes, root, startEmulator, startNode, startServer, wakeups } from "./processes.js"

const machine = {
  cpu: os.cpus()[0]?.model ?? "unknown",
  cores: os.cpus().length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  date: new Date().toISOString()
}

type Row = Record<string, string | number>

const report = (name: string, title: string, rows: ReadonlyArray<Row>, notes: ReadonlyArray<string> = []) => {
  mkdirSync(`${root}bench/results`, { recursive: true })
  writeFileSync(`${root}bench/results/${name}.json`, `${JSON.stringify({ name, title, machine, rows, notes }, null, 2)}\n`)
  const columns = Object.keys(rows[0] ?? {})
  console.log(`\n## ${title}\n`)
  console.log(`| ${columns.join(" | ")} |`)
  console.log(`|${columns.map(() => "---").join("|")}|`)
  for (const row of rows) console.log(`| ${columns.map((c) => String(row[c])).join(" | ")} |`)
  for (const note of notes) console.log(`\n${note}`)
}

const ms = (value: number) => Number(value.toFixed(2))
const median = (values: ReadonlyArray<number>) => percentile(values, 0.5)
/** The lowest and highest of some ratios, as printed: "0.83–1.9". */
const range = (values: ReadonlyArray<number>) => `${ms(Math.min(...values))}–${ms(Math.max(...values))}`
/** Windows of `throughput`: pairs (the server's, the floor's, alternating) and their length in seconds. */
const throughputPairs = 6
const throughputWindowSeconds = 5

/** The gap between frames in the paced part of `throughput`, in ms. */
const paceMs = 3

/** How long the server and the floor serve turns before their CPU is counted (the short-turn and throughput parts). */
const warmUpMillis = 6_000
/** Rounds of 50 turns at once (each round: straight, through the server, through the floor). */
const burstRounds = 9
/** Turns of the light-load figure, one at a time, 20 ms apart; then the idle window, in ms. */
const lightTurns = 250
const idleMillis = 5_000
/** When the stand-in Letta of the 50-at-once part sends a turn's first token, in ms after the request. */
const burstFirstTokenMs = 100
/**
 * Before them, the server and the floor serve rounds of 50 turns until each has served this many, or for at most
 * `burstWarmUpMillis`: a server that has run a while, as for CPU per turn (its first 2,000 turns cost about twice as
 * much CPU each, V8 still optimising, and 50 at once wait on each other's).
 */
const burstWarmUpTurns = 2_000
const burstWarmUpMillis = 150_000

const all = <A>(n: number, f: (i: number) => Promise<A>) => Promise.all(Array.from({ length: n }, (_, i) => f(i)))
const summary = (turns: ReadonlyArray<Turn>) => ({
  ttftP50: percentile(turns.map((t) => t.firstTokenMs), 0.5),
  ttftP99: percentile(turns.map((t) => t.firstTokenMs), 0.99),
  gapP50: percentile(turns.flatMap((t) => t.gapsMs), 0.5),
  gapP99: percentile(turns.flatMap((t) => t.gapsMs), 0.99),
  failed: turns.filter((t) => !t.ok).length
})

/**
 * 1. Time to first token and per-token delay, through the server vs straight from the emulator. `streams` clients run at
 * once, started at random points of a turn (steady load, not one burst), each alternating a direct and a through turn.
 */
const latency = async () => {
  const rows: Array<Row> = []
  const failures: Array<string> = []
  for (const [streams, tokenDelay, pairs] of [[1, 20, 30], [100, 50, 6], [1_000, 250, 2]] as const) {
    const emulator = await startEmulator({ EMULATOR_TOKEN_DELAY: `${tokenDelay} millis` })
    // the direct clients wait as long as it takes; so does the server here (at 1,000 streams the emulator is slow)
    const server = await startServer({ LETTA_BASE_URL: emulator.url, LETTA_CONNECT_TIMEOUT: "120", LETTA_FIRST_EVENT_TIMEOUT: "120" })
    const direct: Array<Turn> = []
    const through: Array<Turn> = []
    // warm-up, not counted
    await all(Math.min(streams, 50), (i) => streamTurn("letta", emulator.url, emulator.agent, `warm-up ${i}`))
    await all(Math.min(streams, 50), (i) => streamTurn("openai", server.url, emulator.agent, `warm-up ${i}`))
    const turnMs = 45 * tokenDelay // about one turn of the demo agent
    await all(streams, async (i) => {
      await new Promise((r) => setTimeout(r, Math.random() * turnMs))
      for (let pair = 0; pair < pairs; pair++) {
        const first = (i + pair) % 2 === 0
        const a = await streamTurn(first ? "letta" : "openai", first ? emulator.url : server.url, emulator.agent, `bench ${pair}.${i}`)
        const b = await streamTurn(first ? "openai" : "letta", first ? server.url : emulator.url, emulator.agent, `bench ${pair}.${i}`)
        direct.push(first ? a : b)
        through.push(first ? b : a)
      }
    })
    await server.stop()
    await emulator.stop()
    const [d, t] = [summary(direct), summary(through)]
    for (const turn of [...direct, ...through]) if (!turn.ok) failures.push(`${streams} streams: ${turn.outcome}`)
    rows.push({
      streams,
      "token every": `${tokenDelay} ms`,
      turns: direct.length + through.length,
      "TTFT p50 direct / through (ms)": `${ms(d.ttftP50)} / ${ms(t.ttftP50)}`,
      "TTFT added p50 / p99 (ms)": `${ms(t.ttftP50 - d.ttftP50)} / ${ms(t.ttftP99 - d.ttftP99)}`,
      "TTFT ratio p50": ms(t.ttftP50 / d.ttftP50),
      "token gap added p50 / p99 (ms)": `${ms(t.gapP50 - d.gapP50)} / ${ms(t.gapP99 - d.gapP99)}`,
      "failed direct / through": `${d.failed} / ${t.failed}`
    })
  }
  const reasons = [...new Set(failures)].map((reason) => `${reason} ×${failures.filter((f) => f === reason).length}`)
  report("latency", "Added latency: through the server vs straight from the emulator (same emulator, same clients, alternating turns)", rows, [
    "Targets: added p50 TTFT ≤ 2 ms and ratio ≤ 1.05 at 100 streams.",
    ...(reasons.length === 0 ? [] : [`Failures: ${reasons.join(", ")}`])
  ])
}

/** Streams back-to-back turns from `clients` loops for `seconds`; text events received per second. */
const eventsPerSecond = async (base: string, clients: number, seconds: number) => {
  const until = Date.now() + seconds * 1000
  let events = 0
  let failed = 0
  let turns = 0
  const started = Date.now()
  await all(clients, async (i) => {
    for (let n = 0; Date.now() < until; n++) {
      const turn = await streamTurn("openai", base, "agent-00000000-0000-4000-8000-000000000000", `load ${i}.${n}`)
      events += turn.tokens
      turns++
      if (!turn.ok) failed++
    }
  })
  return { perSecond: events / ((Date.now() - started) / 1000), failed, turns }
}

interface Window {
  readonly perSecond: number
  readonly cpuPerEvent: number
  readonly failed: number
}

/** 2. Events per second, Letta SSE in and OpenAI chunks out, the bridge pinned to one core, against a plain-Node floor. */
const throughput = async () => {
  // the bytes of one real turn, one character per token
  const emulator = await startEmulator({ EMULATOR_TOKEN_SIZE: "1" })
  const bytes = await fetch(`${emulator.url}/v1/agents/${emulator.agent}/messages/stream`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: "Hello! Can you search for Letta memory?" }], stream_tokens: true })
  }).then((response) => response.arrayBuffer())
  await emulator.stop()
  const file = `${os.tmpdir()}/letta-bench-turn.sse`
  writeFileSync(file, Buffer.from(bytes))
  const upstream = await startNode([`${root}bench/src/upstream.mjs`], { BENCH_UPSTREAM_MODE: "replay", BENCH_REPLAY_FILE: file }, { core: 0 })
  const frames = Buffer.from(bytes).toString("utf8").split("\n\n").filter((f) => f.startsWith("data: ")).length
  const textFrames = Buffer.from(bytes).toString("utf8").split("\n\n")
    .filter((f) => /"message_type":"(assistant_message|reasoning_message)"/.test(f)).length
  const rows: Array<Row> = []
  /** One window of 32 clients: events per second, and CPU per text event upstream (Letta's frames are the work). */
  const window = async (bridge: Running): Promise<Window> => {
    const cpuBefore = cpuMillis(bridge.pid)
    const result = await eventsPerSecond(bridge.url, 32, throughputWindowSeconds)
    const cpu = cpuMillis(bridge.pid) - cpuBefore
    return { perSecond: result.perSecond, cpuPerEvent: (cpu * 1000) / (result.turns * textFrames), failed: result.failed }
  }
  // the server and the floor in alternating windows, each figure the median of its windows and the ratio the median
  // of the pairs': the machine's load changes over a minute, and moved the ratio of two long windows by half
  const against = async (label: string, upstreamUrl: string) => {
    const ours = await startServer({ LETTA_BASE_URL: upstreamUrl }, 1)
    const floor = await startNode([`${root}bench/src/floor.mjs`], { BENCH_UPSTREAM: upstreamUrl }, { core: 1 })
    // warm-up: a running server, not a fresh one (see the short-turn part)
    for (const bridge of [ours, floor]) await eventsPerSecond(bridge.url, 8, warmUpMillis / 1000)
    const pairs: Array<{ readonly ours: Window; readonly floor: Window }> = []
    for (let pair = 0; pair < throughputPairs; pair++) {
      // each goes first in turn
      const [first, second] = pair % 2 === 0 ? [ours, floor] : [floor, ours]
      const firstWindow = await window(first)
      const secondWindow = await window(second)
      pairs.push(first === ours ? { ours: firstWindow, floor: secondWindow } : { ours: secondWindow, floor: firstWindow })
    }
    await ours.stop()
    await floor.stop()
    for (const side of ["ours", "floor"] as const) {
      rows.push({
        path: `${side === "ours" ? "letta-pipeline (OpenAI stream)" : "plain Node pass-through (floor)"}${label}`,
        "text events / s": Math.round(median(pairs.map((p) => p[side].perSecond))),
        "CPU per text event (µs)": ms(median(pairs.map((p) => p[side].cpuPerEvent))),
        failed: pairs.reduce((sum, p) => sum + p[side].failed, 0)
      })
    }
    const ratios = pairs.map((p) => p.ours.cpuPerEvent / p.floor.cpuPerEvent)
    rows.push({
      path: `ratio${label}`,
      "text events / s": `${Math.round(median(pairs.map((p) => p.ours.perSecond / p.floor.perSecond)) * 100)}% of the floor`,
      "CPU per text event (µs)": `${ms(median(ratios))}× the floor (pairs ${range(ratios)})`,
      failed: ""
    })
  }
  await against("", upstream.url)
  await upstream.stop()
  // the same frames one at a time, as a live Letta sends them: a read, a decode and a write per frame
  const paced = await startNode([`${root}bench/src/upstream.mjs`], { BENCH_UPSTREAM_MODE: "paced", BENCH_REPLAY_FILE: file, BENCH_PACE_MS: String(paceMs) }, { core: 0 })
  await against(`, frames ${paceMs} ms apart`, paced.url)
  await paced.stop()
  report("throughput", `Throughput on one core (taskset -c 1): a real turn of ${frames} frames (${textFrames} text) replayed as fast as it is read, 32 clients; then its frames ${paceMs} ms apart; ${throughputPairs} pairs of ${throughputWindowSeconds}-s windows, medians`, rows, [
    "Target: CPU per text event at most 2× the plain-Node floor's (throughput at least 50% of the floor), replayed as fast as it is read.",
    `Paced, the events per second are the pace's (32 streams of a frame every ${paceMs} ms), and CPU per text event is what a live stream costs.`
  ])
}

/**
 * Signals a probe preloaded into `pid` (`allocations.mjs`, `heap.mjs`: SIGUSR2) and waits, 10 s at most, for the file
 * it writes to hold what `accept` takes; `what` names the probe in the error.
 */
const askProbe = async <A>(pid: number, file: string, what: string, accept: (read: Record<string, unknown>) => A | undefined): Promise<A> => {
  process.kill(pid, "SIGUSR2")
  for (let waited = 0; waited < 10_000; waited += 20) {
    const read = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>) : undefined
    const value = read === undefined ? undefined : accept(read)
    if (value !== undefined) return value
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`${what} did not answer`)
}

/**
 * 2b. The fixed cost of a turn: CPU per turn for a turn of one short answer (request decoding, agent and chat
 * resolution, store lookup, upstream request, response headers), on one core, against the floor; and 50 turns
 * arriving at once, through the server and through the floor vs straight from a stand-in Letta whose first token takes
 * a fixed time, after a warm-up.
 */
const turns = async () => {
  const rows: Array<Row> = []
  const upstream = await startNode([`${root}bench/src/upstream.mjs`], { BENCH_UPSTREAM_MODE: "short" }, { core: 0 })
  const perTurn = async (name: string, start: (allocFile: string) => Promise<Running>) => {
    const allocFile = `${os.tmpdir()}/letta-bench-alloc-${process.pid}.json`
    rmSync(allocFile, { force: true })
    const bridge = await start(allocFile)
    /** Short turns from 8 clients for `millis`: CPU per turn, turns, failed. */
    const serve = async (label: string, millis: number) => {
      const cpuBefore = cpuMillis(bridge.pid)
      const until = Date.now() + millis
      let done = 0
      let failed = 0
      await all(8, async (i) => {
        for (let n = 0; Date.now() < until; n++) {
          const turn = await streamTurn("openai", bridge.url, "agent-00000000-0000-4000-8000-000000000000", `${label} ${i}.${n}`)
          done++
          if (!turn.ok) failed++
        }
      })
      return { cpuPerTurn: (cpuMillis(bridge.pid) - cpuBefore) / done, done, failed }
    }
    // a running server's cost, not a fresh one's: over its first 2,000 turns V8 is still optimising its code, and a turn
    // cost 1.8-2.0 ms against 0.8 later (docs/benchmarks.md); the warm-up's own figure is reported beside
    const warm = await serve("warm", warmUpMillis)
    const { cpuPerTurn, done, failed } = await serve("turn", 10_000)
    // bytes allocated per turn over 400 more turns (`allocations.mjs`, V8's sampling heap profiler)
    const probe = (state: string) =>
      askProbe(bridge.pid, allocFile, `${name}: the allocation probe`, (read) =>
        read.state === state ? (typeof read.bytes === "number" ? read.bytes : 0) : undefined)
    await probe("on")
    await all(8, async (i) => { for (let n = 0; n < 50; n++) await streamTurn("openai", bridge.url, "agent-00000000-0000-4000-8000-000000000000", `alloc ${i}.${n}`) })
    const allocatedPerTurn = (await probe("off")) / 400
    // what a lightly used deployment pays: one turn at a time, 20 ms apart (each wakes the process anew), and how often an
    // idle one wakes
    const lightBefore = cpuMillis(bridge.pid)
    for (let n = 0; n < lightTurns; n++) {
      await streamTurn("openai", bridge.url, "agent-00000000-0000-4000-8000-000000000000", `light ${n}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const lightCpuPerTurn = (cpuMillis(bridge.pid) - lightBefore) / lightTurns
    const idleBefore = wakeups(bridge.pid)
    await new Promise((resolve) => setTimeout(resolve, idleMillis))
    const idleWakeupsPerSecond = (wakeups(bridge.pid) - idleBefore) / (idleMillis / 1000)
    await bridge.stop()
    rmSync(allocFile, { force: true })
    rows.push({
      path: name,
      turns: done,
      "CPU per turn (ms)": ms(cpuPerTurn),
      "allocated per turn (KiB)": Math.round(allocatedPerTurn / 1024),
      failed
    })
    return { cpuPerTurn, allocatedPerTurn, warm, lightCpuPerTurn, idleWakeupsPerSecond }
  }
  const probe = [`--import=${root}bench/src/allocations.mjs`]
  const ours = await perTurn("letta-pipeline (OpenAI stream)", (allocFile) =>
    startNode([cliMain, "serve", "--port", "0"], { PIPELINE_STORE: "memory", LETTA_BASE_URL: upstream.url, BENCH_ALLOC_FILE: allocFile }, { core: 1, nodeOptions: probe }))
  const floor = await perTurn("plain Node pass-through (floor)", (allocFile) =>
    startNode([`${root}bench/src/floor.mjs`], { BENCH_UPSTREAM: upstream.url, BENCH_ALLOC_FILE: allocFile }, { core: 1, nodeOptions: probe }))
  await upstream.stop()
  rows.push({
    path: "ratio",
    turns: "",
    "CPU per turn (ms)": `${ms(ours.cpuPerTurn / floor.cpuPerTurn)}× the floor`,
    "allocated per turn (KiB)": `${ms(ours.allocatedPerTurn / floor.allocatedPerTurn)}× the floor`,
    failed: ""
  })

  // 50 turns at once, straight from Letta, through the server and through the floor, in alternating rounds. Letta is a
  // stand-in that answers every turn's first token 100 ms after its request, as a model would, at next to no cost of
  // its own: the emulator answers 50 turns at once only as fast as its own CPU allows, so its own queue set the time
  // straight from it and moved with how the requests arrived (the floor, a pass-through, came out 0.62-1.49× round to
  // round). The stand-in
  // keeps when each request reached it, which splits what the bridge adds into the way to Letta and the way back.
  // Letta and the bridge each on a core of their own, as on separate machines.
  const letta = await startNode([`${root}bench/src/upstream.mjs`], { BENCH_UPSTREAM_MODE: "timed", BENCH_FIRST_TOKEN_MS: String(burstFirstTokenMs) }, { core: 0 })
  // the clients (this process) beside Letta, off the bridge's core: 50 requests at once cost them a few ms of CPU,
  // which would otherwise land on whichever core the bridge runs on
  const cores = execSync(`taskset -cp ${process.pid}`).toString().trim().split(": ").at(-1) ?? "0-1"
  execSync(`taskset -a -cp 0 ${process.pid}`)
  const server = await startServer({ LETTA_BASE_URL: letta.url }, 1)
  const floorServer = await startNode([`${root}bench/src/floor.mjs`], { BENCH_UPSTREAM: letta.url }, { core: 1 })
  const burstAgent = "agent-00000000-0000-4000-8000-000000000000"
  const arrivals = async (): Promise<ReadonlyMap<string, number>> =>
    new Map(await fetch(`${letta.url}/arrivals`).then((r) => r.json()) as Array<[string, number]>)
  const burst = async (wire: "letta" | "openai", base: string) => {
    await arrivals()
    const sent = performance.timeOrigin + performance.now()
    const answers = await all(50, (i) => streamTurn(wire, base, burstAgent, `burst ${i}`))
    const reached = await arrivals()
    // a failed turn has no first token: counted as failed, not timed
    const timed = answers.flatMap((a, i) => {
      const at = reached.get(`burst ${i}`)
      return a.ok && at !== undefined ? [{ firstToken: a.firstTokenMs, toLetta: at - sent }] : []
    })
    return {
      firstTokens: timed.map((t) => t.firstToken),
      toLetta: timed.map((t) => t.toLetta),
      // from Letta's first token to the client's
      back: timed.map((t) => t.firstToken - t.toLetta - burstFirstTokenMs),
      failed: answers.length - timed.length
    }
  }
  const sides = [["letta", letta.url], ["openai", server.url], ["openai", floorServer.url]] as const
  const warmUpStarted = performance.now()
  let warmUpFailed = 0
  let warmUpTurns = 0
  while (warmUpTurns < burstWarmUpTurns && performance.now() - warmUpStarted < burstWarmUpMillis) {
    for (const [wire, base] of sides.slice(1)) warmUpFailed += (await burst(wire, base)).failed
    warmUpTurns += 50
  }
  const warmUpSeconds = (performance.now() - warmUpStarted) / 1000
  const measured = sides.map(() => ({ firstTokens: [] as Array<number>, toLetta: [] as Array<number>, back: [] as Array<number> }))
  const rounds: Array<{ direct: number; through: number; floor: number }> = []
  let burstFailed = 0
  for (let round = 0; round < burstRounds; round++) {
    // each side goes first in turn
    const medians = [0, 0, 0]
    for (let i = 0; i < sides.length; i++) {
      const side = (i + round) % sides.length
      const [wire, base] = sides[side]!
      const result = await burst(wire, base)
      medians[side] = median(result.firstTokens)
      measured[side]!.firstTokens.push(...result.firstTokens)
      measured[side]!.toLetta.push(...result.toLetta)
      measured[side]!.back.push(...result.back)
      burstFailed += result.failed
    }
    rounds.push({ direct: medians[0]!, through: medians[1]!, floor: medians[2]! })
  }
  await floorServer.stop()
  await server.stop()
  await letta.stop()
  execSync(`taskset -a -cp ${cores} ${process.pid}`)
  const quantiles = (values: ReadonlyArray<number>) => `${ms(median(values))} / ${ms(percentile(values, 0.9))}`
  const [direct, through, floorFirst] = measured.map((m) => ({ p50: median(m.firstTokens), p90: percentile(m.firstTokens, 0.9) }))
  const throughRatios = rounds.map((r) => r.through / r.direct)
  const floorRatios = rounds.map((r) => r.floor / r.direct)
  report("turns", "The cost of a turn: CPU per short turn on one core, and 50 turns arriving at once", rows, [
    `50 turns at once (Letta a stand-in whose first token comes ${burstFirstTokenMs} ms after each request, and the clients, on core 0; ` +
      `the server and the floor on core 1), ${burstRounds} rounds, each straight from Letta, through the server and ` +
      `through the floor; before them the server and the floor served ${warmUpTurns} turns each (${ms(warmUpSeconds)} s, ` +
      `${warmUpFailed} failed). Time to first token over all rounds' turns, p50 / p90: ${ms(direct!.p50)} / ` +
      `${ms(direct!.p90)} ms straight, ${ms(through!.p50)} / ${ms(through!.p90)} ms through the server ` +
      `(${ms(through!.p50 / direct!.p50)}× / ${ms(through!.p90 / direct!.p90)}×), ${ms(floorFirst!.p50)} / ` +
      `${ms(floorFirst!.p90)} ms through the floor (${ms(floorFirst!.p50 / direct!.p50)}× / ` +
      `${ms(floorFirst!.p90 / direct!.p90)}×); each round's median against straight: the server ${range(throughRatios)} ` +
      `(median ${ms(median(throughRatios))}×), the floor ${range(floorRatios)}; ${burstFailed} turns failed.`,
    `Where the time goes, p50 / p90 (ms): from the burst's start to Letta's receiving the request ` +
      `${quantiles(measured[0]!.toLetta)} straight, ${quantiles(measured[1]!.toLetta)} through the server, ` +
      `${quantiles(measured[2]!.toLetta)} through the floor; from Letta's first token to the client's ` +
      `${quantiles(measured[0]!.back)}, ${quantiles(measured[1]!.back)} and ${quantiles(measured[2]!.back)}.`,
    `At a light load (${lightTurns} turns one at a time, 20 ms apart): ${ms(ours.lightCpuPerTurn)} ms of CPU a turn through the ` +
      `server, ${ms(floor.lightCpuPerTurn)} through the floor (${ms(ours.lightCpuPerTurn / floor.lightCpuPerTurn)}×); idle for ` +
      `${idleMillis / 1000} s after, the event loop woke ${ms(ours.idleWakeupsPerSecond)} and ${ms(floor.idleWakeupsPerSecond)} times a second.`,
    `CPU per turn counted after ${warmUpMillis / 1000} s of turns; over those first seconds (a fresh process, V8 still optimising): ` +
      `${ms(ours.warm.cpuPerTurn)} ms a turn through the server (${ours.warm.done} turns), ${ms(floor.warm.cpuPerTurn)} ms through the floor (${floor.warm.done}).`,
    "Targets: at most 1 ms of CPU per turn; 50 simultaneous turns reach their first token at most 1.2× later than straight from Letta."
  ])
}

/** Opens `n` streams through the server, each held open by the upstream after its first token. */
const hold = async (base: string, n: number) => {
  const opened: Array<http.ClientRequest> = []
  let firstTokens = 0
  let failed = 0
  const open = () =>
    new Promise<void>((resolve) => {
      const request = http.request(`${base}/v1/chat/completions`, { agent, method: "POST", headers: { "content-type": "application/json" } }, (response) => {
        response.on("data", (chunk: Buffer) => {
          if (chunk.includes('"content":"Hello"')) {
            firstTokens++
            resolve()
          }
        })
        response.on("end", () => {
          failed++
          resolve()
        })
        response.on("error", () => resolve())
      })
      request.on("error", () => {
        failed++
        resolve()
      })
      request.end(JSON.stringify({ model: "agent-00000000-0000-4000-8000-000000000000", stream: true, messages: [{ role: "user", content: "hold" }] }))
      opened.push(request)
    })
  for (let i = 0; i < n; i += 250) await all(Math.min(250, n - i), open)
  return { opened, firstTokens, failed }
}

/** Resident memory per stream of `n` streams held open through a bridge (server or floor). */
const holdThrough = async (n: number, start: (upstream: string, heapFile: string) => Promise<Running>) => {
  const upstream = await startNode([`${root}bench/src/upstream.mjs`], { BENCH_UPSTREAM_MODE: "hold" })
  const heapFile = `${os.tmpdir()}/letta-bench-heap-${process.pid}.json`
  rmSync(heapFile, { force: true })
  const bridge = await start(upstream.url, heapFile)
  // the JS heap after a full collection (`heap.mjs`)
  const heapUsed = () => {
    rmSync(heapFile, { force: true })
    return askProbe(bridge.pid, heapFile, "the heap probe", (read) => (typeof read.heapUsed === "number" ? read.heapUsed : undefined))
  }
  await new Promise((r) => setTimeout(r, 1_000))
  const idle = residentBytes(bridge.pid)
  const heapIdle = await heapUsed()
  const started = Date.now()
  const held = await hold(bridge.url, n)
  const openMs = Date.now() - started
  await new Promise((r) => setTimeout(r, 3_000))
  const loaded = residentBytes(bridge.pid)
  const heapLoaded = await heapUsed()
  for (const request of held.opened) request.destroy()
  await bridge.stop()
  await upstream.stop()
  rmSync(heapFile, { force: true })
  const streams = Math.max(1, held.firstTokens)
  return { held, openMs, idle, loaded, perStream: (loaded - idle) / streams, heapPerStream: (heapLoaded - heapIdle) / streams }
}

/**
 * 3. Concurrent open streams on 2 cores: resident memory per stream at 1,000 and (as far as descriptors allow) 10,000,
 * and the plain-Node floor's at 1,000.
 */
const capacity = async () => {
  const rows: Array<Row> = []
  const hardLimit = Number(execSync("sh -c 'ulimit -Hn'").toString().trim())
  const row = (path: string, wanted: number, r: Awaited<ReturnType<typeof holdThrough>>): Row => ({
    path,
    "streams wanted": wanted,
    "streams held": r.held.firstTokens,
    "opened in (s)": ms(r.openMs / 1000),
    "RSS idle (MiB)": Math.round(r.idle / 2 ** 20),
    "RSS loaded (MiB)": Math.round(r.loaded / 2 ** 20),
    "per stream (KiB)": Math.round(r.perStream / 1024),
    "JS heap per stream (KiB)": Math.round(r.heapPerStream / 1024),
    "projected for 10,000 (MiB)": Math.round((r.idle + r.perStream * 10_000) / 2 ** 20),
    failed: r.held.failed
  })
  const heapProbe = ["--expose-gc", `--import=${root}bench/src/heap.mjs`]
  let ours1000 = 0
  let floor1000 = 0
  let oursHeap1000 = 0
  let floorHeap1000 = 0
  for (const wanted of [1_000, 10_000]) {
    // the server holds two sockets per stream (client and Letta); stay under the descriptor limit of this machine
    const n = Math.min(wanted, Math.floor((hardLimit - 200) / 2 / 100) * 100)
    const ours = await holdThrough(n, (upstream, heapFile) =>
      startNode([cliMain, "serve", "--port", "0"], {
        PIPELINE_STORE: "memory",
        LETTA_BASE_URL: upstream,
        LETTA_IDLE_TIMEOUT: "600",
        LETTA_TURN_TIMEOUT: "600",
        BENCH_HEAP_FILE: heapFile
      }, { nodeOptions: heapProbe }))
    rows.push(row("letta-pipeline", wanted, ours))
    if (wanted === 1_000) {
      ours1000 = ours.perStream
      oursHeap1000 = ours.heapPerStream
      const floor = await holdThrough(n, (upstream, heapFile) =>
        startNode([`${root}bench/src/floor.mjs`], { BENCH_UPSTREAM: upstream, BENCH_HEAP_FILE: heapFile }, { nodeOptions: heapProbe }))
      floor1000 = floor.perStream
      floorHeap1000 = floor.heapPerStream
      rows.push(row("plain Node pass-through (floor)", wanted, floor))
    }
  }
  report("capacity", "Capacity: streams held open (2 cores), resident memory", rows, [
    `Memory per stream at 1,000 streams: ${Math.round(ours1000 / 1024)} KiB through the server, ${Math.round(floor1000 / 1024)} KiB through the floor (${ms(ours1000 / Math.max(1, floor1000))}×).`,
    `JS heap kept per open stream after a full collection (steadier than resident memory): ${Math.round(oursHeap1000 / 1024)} KiB through the server, ${Math.round(floorHeap1000 / 1024)} KiB through the floor (${ms(oursHeap1000 / Math.max(1, floorHeap1000))}×).`,
    `Targets: at most 64 KiB per open stream; 10,000 open streams under 1 GiB RSS. This machine allows ${hardLimit} descriptors per process; the server needs two per stream.`
  ])
}

const parts: Record<string, () => Promise<void>> = { latency, throughput, turns, capacity, peers: () => peers(report) }
const chosen = process.argv.slice(2).filter((a) => a in parts)
for (const name of chosen.length === 0 ? Object.keys(parts) : chosen) {
  const started = Date.now()
  await parts[name]!()
  console.log(`(${name}: ${Math.round((Date.now() - started) / 1000)} s)`)
}
process.exit(0)
