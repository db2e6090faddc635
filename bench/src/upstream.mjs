// A stand-in Letta for the throughput and capacity benchmarks, in plain Node so that it costs next to nothing:
// `replay` answers every request with the bytes of a real emulator turn (BENCH_REPLAY_FILE) in one write;
// `paced` sends the same frames one at a time, BENCH_PACE_MS apart, as a live Letta sends tokens while its model
// writes them; `hold` sends a ping and one token, then a ping every 15 s, and never ends (streams held open); `short`
// answers a turn of one token; `timed` answers as a model that takes BENCH_FIRST_TOKEN_MS to its first token (then its
// stop reason 50 ms later, the emulator's beat) and keeps when each request arrived (`GET /arrivals` hands them over:
// `[text, epoch ms]` pairs, the text being the first `burst <n>` of the body).
import { readFileSync } from "node:fs"
import * as http from "node:http"

const mode = process.env.BENCH_UPSTREAM_MODE ?? "replay"
const replay = mode === "replay" || mode === "paced" ? readFileSync(process.env.BENCH_REPLAY_FILE ?? "") : Buffer.alloc(0)
const pacedFrames = mode === "paced" ? replay.toString("utf8").split(/(?<=\n\n)/) : []
const paceMs = Number(process.env.BENCH_PACE_MS ?? 3)
const frame = (message) => `data: ${JSON.stringify(message)}\n\n`
const ping = frame({
  id: "ping-00000000-0000-4000-8000-000000000000",
  date: "2026-11-24T00:00:00+00:00",
  name: null,
  message_type: "ping",
  otid: null,
  sender_id: null,
  step_id: null,
  is_err: null,
  seq_id: null,
  run_id: "run-00000000-0000-4000-8000-000000000000"
})
// every field, as Letta sends them
const token = (i) =>
  frame({
    id: `message-00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    date: "2026-11-24T00:00:00+00:00",
    name: null,
    message_type: "assistant_message",
    otid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    sender_id: null,
    step_id: "step-00000000-0000-4000-8000-000000000000",
    is_err: null,
    seq_id: null,
    run_id: "run-00000000-0000-4000-8000-000000000000",
    content: "Hello"
  })

// `short`: a turn of one answer: a token, its stop reason and usage
const short = token(0) + frame({ message_type: "stop_reason", stop_reason: "end_turn" }) +
  frame({ message_type: "usage_statistics", completion_tokens: 1, prompt_tokens: 10, total_tokens: 11, step_count: 1 }) + "data: [DONE]\n\n"

const firstTokenMs = Number(process.env.BENCH_FIRST_TOKEN_MS ?? 100)
/** `timed`: the arrivals not yet handed over, as `[text, epoch ms]`. */
let arrivals = []
const now = () => performance.timeOrigin + performance.now()

const timed = (request, response) => {
  if (request.method === "GET" && request.url === "/arrivals") {
    response.writeHead(200, { "content-type": "application/json" })
    response.end(JSON.stringify(arrivals))
    arrivals = []
    return
  }
  const parts = []
  request.on("data", (part) => parts.push(part))
  request.on("end", () => {
    arrivals.push([/burst \d+/.exec(Buffer.concat(parts).toString("utf8"))?.[0] ?? "", now()])
    setTimeout(() => {
      response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" })
      response.write(token(0))
      setTimeout(() => response.end(short.slice(token(0).length)), 50)
    }, firstTokenMs)
  })
}

let held = 0
const server = http.createServer((request, response) => {
  if (mode === "timed") return timed(request, response)
  request.resume()
  request.on("end", () => {
    response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" })
    if (mode === "replay") return response.end(replay)
    if (mode === "short") return response.end(short)
    if (mode === "paced") {
      let next = 0
      const send = () => {
        if (response.destroyed) return
        if (next === pacedFrames.length - 1) return response.end(pacedFrames[next])
        response.write(pacedFrames[next++])
        setTimeout(send, paceMs)
      }
      return send()
    }
    held++
    response.write(ping + token(held))
    const timer = setInterval(() => response.write(ping), 15_000)
    response.on("close", () => clearInterval(timer))
  })
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.env.BENCH_PORT ?? 0), "127.0.0.1", () => {
  console.log(`upstream (${mode}) listening on http://127.0.0.1:${server.address().port}`)
})
