/**
 * Every emulator fault × every surface (native SSE, OpenAI streaming, OpenAI non-streaming, CLI): each cell ends in a
 * clear error for the client (an HTTP status before any header, else an error event or chunk and a clean end), the
 * upstream stream is closed, nothing crashes, and the server keeps serving. Prints the matrix.
 */
import type { CommandExecutor, HttpServer } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Emulator, Fault } from "@letta-pipeline/emulator"
import { Console, Duration, Effect, Layer } from "effect"
import { runCli } from "../utils/cli.js"
import { call, crashes, leakedSecrets, secrets, seen, serverUrl, stackLayer, upstreamSettled, withKey } from "./stack.js"

/**
 * Every fault the emulator has (a status as a server error and as a rate limit, a stop reason by which the run failed
 * and one by which it completed): a new one must get a cell.
 */
type FaultName =
  | `status:${500 | 429}`
  | `stop:${"llm_api_error" | "max_steps"}`
  | Exclude<typeof Fault.kinds[number], "status" | "stop">
const faults: ReadonlyArray<FaultName> = Fault.kinds.flatMap((kind): ReadonlyArray<FaultName> =>
  kind === "status" ? ["status:500", "status:429"] : kind === "stop" ? ["stop:llm_api_error", "stop:max_steps"] : [kind]
)

/**
 * Faults a client must ride out: Letta adds message types over time, omits `[DONE]` at times after its stop reason,
 * sends frames no client needs in odd shapes, and huge outputs; a run may stop at its step limit. The turn completes.
 */
const tolerated: ReadonlySet<FaultName> = new Set(["unknown-type", "no-done", "odd-frames", "huge-output", "stop:max_steps"])

/** What each other fault must be reported as (in the message the client gets). */
const cause: Record<FaultName, RegExp> = {
  "status:500": /server error.*HTTP 500/i,
  "status:429": /rate limit.*HTTP 429/i,
  reset: /reset|closed|terminated|socket/i,
  malformed: /not valid JSON/i,
  "unknown-type": /^$/,
  "no-done": /^$/,
  stall: /did not answer in time \(idle timeout/i,
  "llm-error": /error during the turn/i,
  "slow-first-byte": /did not answer in time \(connect timeout/i,
  "stop:llm_api_error": /run failed.*stop reason llm_api_error/i,
  "stop:max_steps": /^$/,
  "odd-frames": /^$/,
  "huge-output": /^$/
}

type Surface = "native SSE" | "OpenAI stream" | "OpenAI JSON" | "CLI"
const surfaces: ReadonlyArray<Surface> = ["native SSE", "OpenAI stream", "OpenAI JSON", "CLI"]

/** What a client saw. */
interface Outcome {
  /** `answer`, `status` (an HTTP error status, or exit code 1), `in-band` (an error event or chunk after a 200). */
  readonly kind: "answer" | "status" | "in-band"
  readonly code: number
  readonly message: string
  /** The stream ended as the protocol says (`[DONE]`, the terminal event, one NDJSON event per line). */
  readonly cleanEnd: boolean
}

const Live = Layer.mergeAll(
  stackLayer({
    emulator: { stall: Duration.seconds(30), firstByteDelay: Duration.seconds(3) },
    letta: { timeouts: { connect: Duration.seconds(1), idle: Duration.seconds(1) } }
  }),
  NodeContext.layer
)

const post = (url: string, body: unknown) => call(url, { method: "POST", headers: withKey, body: JSON.stringify(body) })

const errorMessage = (text: string): string => {
  const body = JSON.parse(text) as { error?: { message?: string }; detail?: string }
  return body.error?.message ?? body.detail ?? ""
}

const sseEvents = (text: string) =>
  text.split("\n\n").filter((block) => block.trim() !== "" && !block.startsWith(":")).map((block) => {
    const lines = block.split("\n")
    return {
      event: lines.find((line) => line.startsWith("event: "))?.slice(7) ?? "message",
      data: lines.filter((line) => line.startsWith("data: ")).map((line) => line.slice(6)).join("\n")
    }
  })

const run = (
  surface: Surface,
  fault: FaultName
): Effect.Effect<Outcome, never, Emulator.Emulator | HttpServer.HttpServer | CommandExecutor.CommandExecutor> =>
  Effect.gen(function*() {
    const base = yield* serverUrl
    const emulator = yield* Emulator.Emulator
    const content = `Hello [[fault:${fault}]]`
    const messages = [{ role: "user", content }]
    switch (surface) {
      case "native SSE": {
        const answer = yield* post(`${base}/v1/pipe`, { messages })
        if (answer.status !== 200) return { kind: "status", code: answer.status, message: errorMessage(answer.text), cleanEnd: true }
        const events = sseEvents(answer.text)
        const last = events.at(-1)
        const data = JSON.parse(last?.data ?? "{}") as { data?: { message?: string } }
        return {
          kind: last?.event === "error" ? "in-band" : "answer",
          code: 200,
          message: data.data?.message ?? "",
          cleanEnd: last?.event === "error" || last?.event === "done"
        }
      }
      case "OpenAI stream": {
        const answer = yield* post(`${base}/v1/chat/completions`, { model: emulator.demoAgent.id, stream: true, messages })
        if (answer.status !== 200) return { kind: "status", code: answer.status, message: errorMessage(answer.text), cleanEnd: true }
        const data = sseEvents(answer.text).map((event) => event.data)
        const error = data.find((line) => line.startsWith("{\"error\""))
        return {
          kind: error === undefined ? "answer" : "in-band",
          code: 200,
          message: error === undefined ? "" : errorMessage(error),
          cleanEnd: data.at(-1) === "[DONE]"
        }
      }
      case "OpenAI JSON": {
        const answer = yield* post(`${base}/v1/chat/completions`, { model: emulator.demoAgent.id, messages })
        return answer.status === 200
          ? { kind: "answer", code: 200, message: "", cleanEnd: true }
          : { kind: "status", code: answer.status, message: errorMessage(answer.text), cleanEnd: true }
      }
      case "CLI": {
        const ran = yield* Effect.orDie(runCli(["chat", content, "--json"], {
          env: {
            LETTA_BASE_URL: emulator.url,
            LETTA_PASSWORD: secrets.lettaPassword,
            LETTA_AGENT_ID: emulator.demoAgent.id,
            LETTA_CONNECT_TIMEOUT: "1",
            LETTA_IDLE_TIMEOUT: "1"
          }
        }))
        seen.push(ran.stdout, ran.stderr)
        const lines = ran.stdout.trim().split("\n").filter((line) => line !== "")
        const events = lines.map((line) => JSON.parse(line) as { type: string; data: { message?: string } })
        const last = events.at(-1)
        return {
          kind: ran.code === 0 ? "answer" : "status",
          code: ran.code,
          message: last?.type === "error" ? last.data.message ?? "" : "",
          // NDJSON only, ending with the turn's last event; no stack trace anywhere
          cleanEnd: (last?.type === "error" || last?.type === "done") && !/\n\s+at /.test(ran.stderr)
        }
      }
    }
  })

const short = (outcome: Outcome) =>
  outcome.kind === "answer" ? `ok ${outcome.code}` : outcome.kind === "status" ? `${outcome.code === 1 ? "exit" : "HTTP"} ${outcome.code}` : "200 + error"

layer(Live, { excludeTestServices: true })("fault matrix", (it) => {
  it.effect("every fault on every surface ends clearly; the server keeps serving; nothing leaks", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const base = yield* serverUrl
      const rows: Array<string> = []
      let cells = 0
      for (const fault of faults) {
        const outcomes: Array<Outcome> = []
        for (const surface of surfaces) {
          const outcome = yield* run(surface, fault)
          outcomes.push(outcome)
          const where = `${fault} × ${surface}: ${JSON.stringify(outcome)}`
          if (tolerated.has(fault)) {
            assert.strictEqual(outcome.kind, "answer", where)
          } else {
            assert.notStrictEqual(outcome.kind, "answer", where)
            assert.match(outcome.message, cause[fault], where)
            // a chat user is never shown Letta's address
            if (surface !== "CLI") assert.notInclude(outcome.message, new URL(emulator.url).host, where)
            if (surface === "OpenAI JSON") assert.strictEqual(outcome.kind, "status", where)
            if (surface === "CLI") assert.strictEqual(outcome.code, 1, where)
            if (outcome.kind === "status" && surface !== "CLI") assert.isAtLeast(outcome.code, 400, where)
          }
          assert.isTrue(outcome.cleanEnd, where)
          // no upstream stream left open by this cell
          yield* Effect.orDie(upstreamSettled())
          cells += 1
        }
        // the server still answers a plain turn after this fault
        const after = yield* post(`${base}/v1/chat/completions`, {
          model: emulator.demoAgent.id,
          messages: [{ role: "user", content: `still there after ${fault}?` }]
        })
        assert.strictEqual(after.status, 200, after.text)
        rows.push(`| ${fault.padEnd(18)} | ${outcomes.map((o) => short(o).padEnd(13)).join(" | ")} |`)
      }
      assert.deepStrictEqual(crashes, { unhandledRejections: 0, uncaughtExceptions: 0 })
      assert.deepStrictEqual(leakedSecrets(), [])
      const stats = yield* emulator.stats.snapshot
      yield* Console.log([
        `fault matrix: ${cells} cells passed; upstream streams ${stats.total_streams} opened, ${stats.active_streams} open at the end`,
        `| fault              | ${surfaces.map((s) => s.padEnd(13)).join(" | ")} |`,
        `|--------------------|${surfaces.map(() => "---------------|").join("")}`,
        ...rows
      ].join("\n"))
    }), { timeout: 240_000 })
})
