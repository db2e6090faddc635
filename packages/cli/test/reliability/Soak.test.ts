/**
 * Load and soak: 500 clients keep a stream open each, turn after turn, for two minutes, against the server as its own
 * process. Every turn ends complete; the server's memory (heap and resident) stays flat between the first and the last
 * part of the run; its open handles return to where they were once the clients are gone.
 */
import { NodeContext } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@letta-pipeline/emulator"
import { Console, Duration, Effect, Layer, Ref, Schedule } from "effect"
import * as http from "node:http"
import { fileURLToPath } from "node:url"
import { emulatorLayer, leakedSecrets, secrets, serverProcess, upstreamSettled } from "./stack.js"

const clients = 500
const soak = Duration.seconds(Number(process.env["SOAK_SECONDS"] ?? 120))
const liveHeap = fileURLToPath(new URL("live-heap.cjs", import.meta.url))

type Surface = "OpenAI stream" | "native SSE"

/** One turn to its end; the whole response text. */
const turn = (agent: http.Agent, base: string, model: string, surface: Surface, tag: string) =>
  Effect.async<{ readonly status: number; readonly text: string }, Error>((resume) => {
    const request = http.request(`${base}${surface === "native SSE" ? "/v1/pipe" : "/v1/chat/completions"}`, {
      agent,
      method: "POST",
      headers: { authorization: `Bearer ${secrets.pipelineKey}`, "content-type": "application/json" }
    }, (response) => {
      const parts: Array<Buffer> = []
      response.on("data", (part: Buffer) => parts.push(part))
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, text: Buffer.concat(parts).toString("utf8") })))
      response.on("error", (error) => resume(Effect.fail(error)))
    })
    request.on("error", (error) => resume(Effect.fail(error)))
    request.end(JSON.stringify({ model, stream: true, messages: [{ role: "user", content: tag }] }))
  })

/** Whether a response is a whole, successful turn of its surface. */
const complete = (surface: Surface, answer: { readonly status: number; readonly text: string }) =>
  answer.status === 200 &&
  (surface === "native SSE"
    ? answer.text.includes(`"type":"done"`) && !answer.text.includes(`"type":"error"`)
    : answer.text.trimEnd().endsWith("data: [DONE]") && !answer.text.includes(`"error":`))

/** What the server process still holds after a full GC (see `live-heap.cjs`). */
interface Sample {
  readonly at: number
  readonly heap: number
  readonly rss: number
  readonly handles: number
  /** handles by kind (`TCPSocketWrap`, `Timeout`, …) */
  readonly kinds: Readonly<Record<string, number>>
}

/** Response streams open in the server, from its own `/metrics`. */
const openStreams = (base: string) =>
  Effect.tryPromise(async () => {
    const response = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${secrets.pipelineKey}` } })
    const text = await response.text()
    return text.split("\n").filter((line) => line.startsWith("letta_pipeline_streams_active"))
      .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0)
  })

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`

// a token every 250 ms: a turn lasts several seconds, so 500 streams stay open at once. The emulator shares this
// process with the 500 clients: on two busy cores its event loop lags by seconds, so it keeps idle connections longer
// than Letta's 5 s (a lagging server closes a reused connection under a request it has not read yet: a reset) and the
// server waits longer for its headers. What is measured is the bridge, not the stand-in it calls.
const Live = Layer.mergeAll(
  emulatorLayer({ tokenDelay: Duration.millis(250), keepAliveTimeout: Duration.seconds(60) }),
  NodeContext.layer
)

layer(Live, { excludeTestServices: true })("load and soak", (it) => {
  it.effect(`${clients} concurrent streams for ${Duration.format(soak)}: every turn complete, memory and handles flat`, () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const samples: Array<Sample> = []
      const base = yield* Effect.orDie(serverProcess({
        NODE_OPTIONS: `--expose-gc --require ${liveHeap}`,
        LIVE_HEAP_EVERY: "3000",
        LETTA_CONNECT_TIMEOUT: "60"
      }, (line) => {
        if (line.startsWith("live-heap ")) samples.push(JSON.parse(line.slice("live-heap ".length)) as Sample)
      }))
      const sampled = (after: number) => Effect.suspend(() => {
        const found = samples.find((s) => s.at > after)
        return found === undefined ? Effect.fail(new Error("no live-heap sample")) : Effect.succeed(found)
      }).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100 }), Effect.orDie)
      const idle = yield* sampled(0)
      const agent = new http.Agent({ keepAlive: true, maxSockets: clients })
      yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))
      const turns = yield* Ref.make({ complete: 0, failed: [] as ReadonlyArray<string> })
      const deadline = Date.now() + Duration.toMillis(soak)

      const client = (i: number) =>
        Effect.gen(function*() {
          const surface: Surface = i % 2 === 0 ? "OpenAI stream" : "native SSE"
          for (let n = 0; Date.now() < deadline; n++) {
            const tag = `soak client ${i} turn ${n}`
            const answer = yield* Effect.either(turn(agent, base, emulator.demoAgent.id, surface, tag))
            const ok = answer._tag === "Right" && complete(surface, answer.right)
            yield* Ref.update(turns, (t) =>
              ok ? { ...t, complete: t.complete + 1 } : {
                ...t,
                failed: [...t.failed, `${tag} via ${surface}: ${answer._tag === "Right" ? `${answer.right.status} ${answer.right.text.slice(-200)}` : answer.left.message}`]
              })
          }
        })

      const started = Date.now()
      // the server's own count of open response streams, every 2 s while the clients run
      const streamCounts: Array<number> = []
      yield* Effect.all([
        Effect.forEach(Array.from({ length: clients }, (_, i) => i), client, { concurrency: "unbounded", discard: true }),
        openStreams(base).pipe(
          Effect.tap((count) => Effect.sync(() => streamCounts.push(count))),
          Effect.repeat({ schedule: Schedule.spaced("2 seconds"), until: () => Date.now() >= deadline - 4_000 }),
          Effect.orDie
        )
      ], { concurrency: 2, discard: true })
      agent.destroy()
      yield* Effect.orDie(upstreamSettled(Duration.seconds(10)))
      // idle again: the handles of the load are gone. Idle keep-alive sockets to Letta may stay until the emulator's
      // keep-alive timeout (60 s, above) closes them, so the wait covers that timeout with a margin.
      const ended = Date.now()
      const after = yield* sampled(ended).pipe(
        Effect.filterOrFail((s) => s.handles <= idle.handles + 4, (s) => new Error(`${s.handles} handles ${JSON.stringify(s.kinds)}`)),
        Effect.retry({ schedule: Schedule.spaced("1 second"), times: 75 }),
        Effect.either
      )

      const { complete: done, failed } = yield* Ref.get(turns)
      // the first quarter is the ramp-up; the second quarter is compared with the last
      const quarter = (n: number) =>
        samples.filter((s) => s.at >= started + (n - 1) * Duration.toMillis(soak) / 4 && s.at < started + n * Duration.toMillis(soak) / 4)
      const [early, late] = [quarter(2), quarter(4)]
      const [heapEarly, heapLate] = [median(early.map((s) => s.heap)), median(late.map((s) => s.heap))]
      const [rssEarly, rssLate] = [median(early.map((s) => s.rss)), median(late.map((s) => s.rss))]
      const peakStreams = Math.max(...streamCounts)
      const peakHandles = Math.max(...samples.map((s) => s.handles))
      yield* Console.log(
        `soak: ${clients} clients for ${Duration.format(soak)}: ${done} turns complete, ${failed.length} failed; ` +
          `up to ${peakStreams} streams open; server live heap ${mib(idle.heap)} idle → ${mib(heapEarly)} → ${mib(heapLate)} ` +
          `(medians of the 2nd and 4th quarters) → ${after._tag === "Right" ? mib(after.right.heap) : "?"} idle again; ` +
          `resident ${mib(idle.rss)} → ${mib(rssEarly)} → ${mib(rssLate)}; ` +
          `handles ${idle.handles} idle, up to ${peakHandles} under load, ${after._tag === "Right" ? after.right.handles : "not back"} after`
      )
      assert.deepStrictEqual(failed.slice(0, 5), [])
      assert.isAbove(done, clients * 2)
      assert.isAtLeast(peakStreams, clients * 0.9, "the clients kept their streams open at once")
      assert.isAbove(early.length, 2)
      assert.isAbove(late.length, 2)
      // flat: what is alive at the end of the run is what was alive early in it, give or take a tenth
      assert.isAtMost(heapLate, heapEarly * 1.1 + 8 * 2 ** 20, "live heap flat")
      assert.isAtMost(rssLate, rssEarly * 1.25 + 32 * 2 ** 20, "resident memory flat")
      assert.isTrue(after._tag === "Right", `handles back to idle: ${after._tag === "Left" ? after.left.message : ""}`)
      if (after._tag === "Right") assert.isAtMost(after.right.heap, idle.heap + 16 * 2 ** 20, "the load's memory is released")
      assert.deepStrictEqual(leakedSecrets(), [])
    }).pipe(Effect.scoped), { timeout: Duration.toMillis(soak) + 180_000 })
})
