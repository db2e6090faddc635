/**
 * Start-up race: a request that reaches the port in the first instants after it opens is answered, never left hanging.
 *
 * From the moment the process is spawned, a probe goes out every 5 ms, each on a fresh connection and bounded by 5 s,
 * until 50 probes have been answered after the first answer. Every probe must be either refused (nothing listens yet)
 * or answered with any HTTP status; none may time out (the port opened before the routes were served, and the request
 * was emitted to no listener) and none may be reset. Some refused and many answered probes show the run spans the
 * start.
 */
import { NodeContext } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Clock, Console, Duration, Effect, Ref, Schedule, Stream } from "effect"
import * as http from "node:http"
import { freePort, start } from "./utils/cli.js"

interface Probe {
  readonly method: "GET" | "POST"
  readonly path: string
  readonly body?: string
}

type Outcome =
  | { readonly _tag: "Refused" }
  | { readonly _tag: "Answered"; readonly status: number }
  | { readonly _tag: "TimedOut" }
  | { readonly _tag: "Reset" }
  | { readonly _tag: "Failed"; readonly reason: string }

const probeTimeout = Duration.seconds(5)
const spacing = Duration.millis(5)
const answersAfterTheFirst = 50
/** Longest wait for the process to answer at all (a cold start on a busy machine takes seconds). */
const startDeadline = Duration.seconds(60)

/** One request on its own connection; what became of it. */
const send = (port: number, probe: Probe): Effect.Effect<Outcome> =>
  Effect.async<Outcome>((resume) => {
    let settled = false
    const settle = (outcome: Outcome) => {
      if (settled) return
      settled = true
      resume(Effect.succeed(outcome))
    }
    const request = http.request({
      host: "127.0.0.1",
      port,
      path: probe.path,
      method: probe.method,
      agent: false,
      headers: { authorization: "Bearer start-up-race", "content-type": "application/json" }
    })
    request.on("response", (response) => {
      response.on("end", () => settle({ _tag: "Answered", status: response.statusCode ?? 0 }))
      response.on("close", () => {
        if (!response.complete) settle({ _tag: "Reset" })
      })
      response.resume()
    })
    request.on("error", (error: NodeJS.ErrnoException) =>
      settle(
        error.code === "ECONNREFUSED"
          ? { _tag: "Refused" }
          : error.code === "ECONNRESET"
          ? { _tag: "Reset" }
          : { _tag: "Failed", reason: error.code ?? error.message }
      ))
    request.end(probe.body)
    return Effect.sync(() => request.destroy())
  }).pipe(
    Effect.timeoutTo({
      duration: probeTimeout,
      onSuccess: (outcome) => outcome,
      onTimeout: (): Outcome => ({ _tag: "TimedOut" })
    })
  )

/** Spawns `letta-pipeline <args> --port P` and probes it from that moment on; the outcomes, counted and checked. */
const race = (name: string, args: ReadonlyArray<string>, probes: ReadonlyArray<Probe>) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const lines: Array<string> = []
    const answered = yield* Ref.make(0)
    const spawnedAt = yield* Clock.currentTimeMillis
    yield* start([...args, "--port", String(port)], {}, (line) => lines.push(line))
    const outcomes = yield* Stream.fromSchedule(Schedule.spaced(spacing)).pipe(
      Stream.takeUntilEffect(() => Effect.map(Ref.get(answered), (count) => count > answersAfterTheFirst)),
      Stream.interruptAfter(startDeadline),
      Stream.mapEffect((i) =>
        Effect.gen(function*() {
          const firedAt = (yield* Clock.currentTimeMillis) - spawnedAt
          const outcome = yield* send(port, probes[i % probes.length] ?? { method: "GET", path: "/" })
          const took = (yield* Clock.currentTimeMillis) - spawnedAt - firedAt
          if (outcome._tag === "Answered") yield* Ref.update(answered, (count) => count + 1)
          return { firedAt, took, outcome }
        }), { concurrency: "unbounded", unordered: true }),
      Stream.runCollect
    )
    const all = Array.from(outcomes)
    const withOutcome = (tag: Outcome["_tag"]) => all.filter((probe) => probe.outcome._tag === tag)
    const count = (tag: Outcome["_tag"]) => withOutcome(tag).length
    const statuses = new Map<number, number>()
    for (const { outcome } of all) {
      if (outcome._tag === "Answered") statuses.set(outcome.status, (statuses.get(outcome.status) ?? 0) + 1)
    }
    const lastRefused = Math.max(0, ...withOutcome("Refused").map((probe) => probe.firedAt))
    const firstAnswered = Math.min(...withOutcome("Answered").map((probe) => probe.firedAt))
    const slowestAnswer = Math.max(0, ...withOutcome("Answered").map((probe) => probe.took))
    yield* Console.log(
      `start-up race, ${name}: ${all.length} probes every ${Duration.format(spacing)} from spawn; ` +
        `${count("Refused")} refused (last fired at ${lastRefused} ms), ` +
        `${count("Answered")} answered (${[...statuses].map(([status, n]) => `${n}× ${status}`).join(", ")}; ` +
        `first fired at ${firstAnswered} ms, slowest ${slowestAnswer} ms), ` +
        `${count("TimedOut")} timed out after ${Duration.format(probeTimeout)}, ` +
        `${count("Reset")} reset, ${count("Failed")} failed otherwise`
    )
    const unexpected = all.flatMap(({ firedAt, outcome }) =>
      outcome._tag === "Refused" || outcome._tag === "Answered"
        ? []
        : [`probe fired at ${firedAt} ms: ${outcome._tag === "Failed" ? outcome.reason : outcome._tag}`]
    )
    assert.deepStrictEqual(unexpected, [], `every probe refused or answered; the process said:\n${lines.join("\n")}`)
    assert.isAtLeast(count("Refused"), 1, "the first probes went out before the port opened")
    assert.isAbove(count("Answered"), answersAfterTheFirst, "probing went on well after the first answer")
  }).pipe(Effect.scoped)

const chat = JSON.stringify({ model: "start-up-race", messages: [{ role: "user", content: "hi" }] })

layer(NodeContext.layer, { excludeTestServices: true })("start-up race", (it) => {
  it.effect("serve: from spawn, every health or chat request is refused or answered, none hangs or is reset", () =>
    race("serve", ["serve"], [
      { method: "GET", path: "/health" },
      { method: "POST", path: "/v1/chat/completions", body: chat }
    ]), { timeout: 120_000 })

  it.effect("emulator: from spawn, every health request is refused or answered, none hangs or is reset", () =>
    race("emulator", ["emulator"], [{ method: "GET", path: "/v1/health/" }]), { timeout: 120_000 })
})
