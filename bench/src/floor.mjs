// The throughput floor: a plain Node pass-through that does the least the bridge must do. For each request it streams
// the upstream Letta turn, splits the SSE frames, parses each JSON and re-serialises text frames as OpenAI chunks.
import * as http from "node:http"

const upstream = process.env.BENCH_UPSTREAM ?? ""
// the stand-ins answer any agent; the emulator only its own
const defaultAgent = process.env.BENCH_AGENT ?? "agent-x"
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity })

const server = http.createServer((request, response) => {
  // the agent is the request's model, as through the bridge (the 50-at-once part gives each round agents of its own)
  const parts = []
  request.on("data", (part) => parts.push(part))
  request.on("end", () => {
    let body
    try {
      body = JSON.parse(Buffer.concat(parts).toString("utf8"))
    } catch {}
    const model = body?.model
    const content = body?.messages?.at(-1)?.content
    const agentId = typeof model === "string" && model.startsWith("agent-") ? model : defaultAgent
    const upstreamRequest = http.request(`${upstream}/v1/agents/${agentId}/messages/stream`, { agent, method: "POST", headers: { "content-type": "application/json" } }, (answer) => {
      response.writeHead(200, { "content-type": "text/event-stream" })
      answer.setEncoding("utf8")
      let carry = ""
      answer.on("data", (chunk) => {
        const frames = (carry + chunk).split("\n\n")
        carry = frames.pop() ?? ""
        let out = ""
        for (const frame of frames) {
          if (!frame.startsWith("data: ") || frame === "data: [DONE]") continue
          const message = JSON.parse(frame.slice(6))
          const delta = message.message_type === "assistant_message" ? { content: message.content }
            : message.message_type === "reasoning_message" ? { reasoning_content: message.reasoning }
            : undefined
          if (delta === undefined) continue
          out += `data: ${JSON.stringify({ id: "chatcmpl-floor", object: "chat.completion.chunk", created: 0, model: agentId, choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`
        }
        if (out !== "") response.write(out)
      })
      answer.on("end", () => response.end("data: [DONE]\n\n"))
      answer.on("error", () => response.destroy())
    })
    // a socket Letta closed under load must fail this turn, not the process
    upstreamRequest.on("error", () => {
      if (!response.headersSent) response.writeHead(502)
      response.end()
    })
    upstreamRequest.end(JSON.stringify({ messages: [{ role: "user", content: typeof content === "string" ? content : "x" }], stream_tokens: true }))
  })
})
server.listen(0, "127.0.0.1", () => console.log(`floor listening on http://127.0.0.1:${server.address().port}`))
