/**
 * 4. Peers in the same run: the real Letta App Server's own `--openai-api` endpoint against letta-pipeline's server
 * over that App Server (same stub LLM, same agent); and the seed's polling, modelled: its first answer comes at the
 * first 2 s poll after the turn has ended.
 */
import { FetchHttpClient } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { StubLlm } from "@letta-pipeline/emulator"
import { Effect, Layer } from "effect"
import { mkdtempSync } from "node:fs"
import * as os from "node:os"
import { join } from "node:path"
import { prepare, startAppServer } from "../../packages/cli/test/utils/appServer.js"
import { percentile, streamTurn, type Turn } from "./clients.js"
import { startServer } from "./processes.js"

type Report = (name: string, title: string, rows: ReadonlyArray<Record<string, string | number>>, notes?: ReadonlyArray<string>) => void

const turns = 15

export const peers = (report: Report) =>
  Effect.gen(function*() {
    const stub = yield* StubLlm.StubLlm
    const token = "bench-token-4d1f"
    const home = mkdtempSync(join(os.tmpdir(), "letta-bench-app-"))
    prepare(home)
    const app = yield* startAppServer(home, stub.url, token)
    const server = yield* Effect.acquireRelease(
      Effect.promise(() => startServer({ LETTA_BASE_URL: app.ws, LETTA_API_KEY: token, LETTA_AGENT_ID: app.agentId })),
      (running) => Effect.promise(() => running.stop())
    )
    const auth = { authorization: `Bearer ${token}` }
    const theirs: Array<Turn> = []
    const ours: Array<Turn> = []
    // warm-up (a first turn loads the agent), then alternating turns
    for (let i = 0; i < turns + 2; i++) {
      // each side pinned to one chat, as Open WebUI does (the App Server otherwise starts a conversation per request)
      const a = yield* Effect.promise(() =>
        streamTurn("openai", app.http, "pipeline-test", `Hi ${i}`, { ...auth, "x-openwebui-chat-id": "bench-theirs" })
      )
      const b = yield* Effect.promise(() =>
        streamTurn("openai", server.url, app.agentId, `Hi ${i}`, { "x-openwebui-chat-id": "bench-ours" })
      )
      if (i >= 2) {
        theirs.push(a)
        ours.push(b)
      }
    }
    const row = (path: string, measured: ReadonlyArray<Turn>) => ({
      path,
      "TTFT p50 (ms)": Number(percentile(measured.map((t) => t.firstTokenMs), 0.5).toFixed(1)),
      "TTFT p90 (ms)": Number(percentile(measured.map((t) => t.firstTokenMs), 0.9).toFixed(1)),
      "whole turn p50 (ms)": Number(percentile(measured.map((t) => t.totalMs), 0.5).toFixed(1)),
      failed: measured.filter((t) => !t.ok).length
    })
    // the seed posts, then polls every 2 s: the answer shows at the first poll after the turn ended
    const seed = theirs.map((t) => Math.ceil(t.totalMs / 2_000) * 2_000)
    report("peers", `Peers: one turn through the real Letta App Server (stub LLM), median of ${turns} after warm-up`, [
      row("App Server --openai-api (its own endpoint)", theirs),
      row("letta-pipeline over the App Server (WebSocket)", ours),
      {
        path: "the seed's polling (modelled: first 2 s poll after the turn ends)",
        "TTFT p50 (ms)": percentile(seed, 0.5),
        "TTFT p90 (ms)": percentile(seed, 0.9),
        "whole turn p50 (ms)": percentile(seed, 0.5),
        failed: 0
      }
    ], ["Target: time to first token no worse than the App Server's own endpoint."])
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.mergeAll(StubLlm.layer(), NodeContext.layer, FetchHttpClient.layer)),
    Effect.runPromise
  )
