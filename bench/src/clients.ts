/**
 * Measuring clients: one streamed turn, timed at every text-bearing event (Letta's reasoning and assistant frames
 * straight from Letta; `content` or `reasoning_content` deltas of OpenAI chunks through a server).
 */
import * as http from "node:http"
import { performance } from "node:perf_hooks"

export type Wire = "letta" | "openai"

export interface Turn {
  readonly ok: boolean
  /** From sending the request to the first text-bearing event. */
  readonly firstTokenMs: number
  /** Gaps between consecutive text-bearing events. */
  readonly gapsMs: ReadonlyArray<number>
  readonly tokens: number
  readonly totalMs: number
  /** The HTTP status, or the transport error's code. */
  readonly outcome: string
}

const lettaToken = /"message_type":"(reasoning_message|assistant_message)"/
const openAiToken = /"(content|reasoning_content)":"[^"]/

export const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity })

/** A Letta streaming request straight to Letta, or an OpenAI streaming request to a server. */
export const request = (wire: Wire, base: string, agentId: string, text: string) =>
  wire === "letta"
    ? { url: `${base}/v1/agents/${agentId}/messages/stream`, body: JSON.stringify({ messages: [{ role: "user", content: text }], stream_tokens: true }) }
    : { url: `${base}/v1/chat/completions`, body: JSON.stringify({ model: agentId, stream: true, messages: [{ role: "user", content: text }] }) }

export const streamTurn = (wire: Wire, base: string, agentId: string, text: string, headers: Record<string, string> = {}): Promise<Turn> =>
  new Promise((resolve) => {
    const { url, body } = request(wire, base, agentId, text)
    const token = wire === "letta" ? lettaToken : openAiToken
    const started = performance.now()
    const times: Array<number> = []
    let carry = ""
    let tail: Array<string> = []
    const done = (ok: boolean, outcome: string) => {
      const gapsMs = times.slice(1).map((t, i) => t - times[i]!)
      resolve({ ok, firstTokenMs: (times[0] ?? Number.NaN) - started, gapsMs, tokens: times.length, totalMs: performance.now() - started, outcome })
    }
    const req = http.request(url, { agent, method: "POST", headers: { "content-type": "application/json", ...headers } }, (response) => {
      if (response.statusCode !== 200) {
        response.resume()
        return done(false, String(response.statusCode))
      }
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => {
        const now = performance.now()
        const events = (carry + chunk).split("\n\n")
        carry = events.pop() ?? ""
        for (const event of events) if (token.test(event)) times.push(now)
        if (events.length > 0) tail = [...tail, ...events].slice(-3).join("\n\n").split("\n\n")
      })
      response.on("end", () => {
        const error = /"error":\{"message":"([^"]{0,160})/.exec(tail.join("\n"))?.[1]
        done(times.length > 0 && error === undefined, error === undefined ? (times.length > 0 ? "200" : "200 without text") : `error: ${error}`)
      })
      response.on("error", (error: NodeJS.ErrnoException) => done(false, error.code ?? error.message))
    })
    req.on("error", (error: NodeJS.ErrnoException) => done(false, error.code ?? error.message))
    req.end(body)
  })

export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))] ?? Number.NaN
}
