/**
 * The whole path against the real Letta App Server, offline, with the project's stub LLM: the CLI, and the server's
 * OpenAI stream (reasoning, tool block, usage), chats mapped onto App Server conversations through the store across a
 * restart, a chat whose conversation the App Server no longer has, and the App Server's own OpenAI mode side by side.
 */
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { LettaBackend, LettaClient, LettaConfig, LettaError, type LettaSchema } from "@letta-pipeline/core"
import { HttpTransport } from "@letta-pipeline/core/node"
import { ConversationStore } from "@letta-pipeline/server"
import { StubLlm } from "@letta-pipeline/emulator"
import { Effect, Either, Layer, Option, Redacted } from "effect"
import { mkdtempSync } from "node:fs"
import * as os from "node:os"
import { join } from "node:path"
import OpenAI from "openai"
import { prepare, startAppServer } from "./utils/appServer.js"
import { runCli, startAndWait } from "./utils/cli.js"

const home = mkdtempSync(join(os.tmpdir(), "letta-app-server-"))
const token = "app-server-capability-token"
const { file } = prepare(home)

const Live = Layer.mergeAll(
  StubLlm.layer({ toolName: "Read", toolArguments: JSON.stringify({ file_path: file }) }),
  NodeContext.layer,
  NodeHttpClient.layerUndici
)

interface Streamed {
  readonly content: string
  readonly reasoning: string
  readonly usage: boolean
  readonly firstTokenMs: number
  /** Open WebUI's tool-call items (sent because of its chat header). */
  readonly items: ReadonlyArray<Record<string, unknown>>
}

/** One streamed chat completion through the official client, timed to its first content token. */
const stream = (
  baseURL: string,
  model: string,
  content: string,
  headers: Record<string, string> = {},
  apiKey: string = "unused"
) =>
  Effect.promise(async (): Promise<Streamed> => {
    const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, defaultHeaders: headers })
    const started = performance.now()
    let firstTokenMs = -1
    let text = ""
    let reasoning = ""
    let usage = false
    const items: Array<Record<string, unknown>> = []
    const chunks = await client.chat.completions.create({
      model,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content }]
    })
    for await (const chunk of chunks) {
      const line = chunk as unknown as { type?: string; item?: Record<string, unknown> }
      if (line.type === "response.output_item.added" && line.item !== undefined) items.push(line.item)
      // Open WebUI status chunks and items (sent because of its chat header) have no choices
      const delta = (chunk.choices ?? [])[0]?.delta
      if (delta?.content !== undefined && delta.content !== null && delta.content !== "" && firstTokenMs < 0) {
        firstTokenMs = performance.now() - started
      }
      text += delta?.content ?? ""
      reasoning += String((delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? "")
      if (chunk.usage !== undefined && chunk.usage !== null) usage = true
    }
    return { content: text, reasoning, usage, firstTokenMs, items }
  })

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0

/** Time to first token of one chat (same chat id on both sides), after a warm-up turn: the median of 5. */
const firstTokenMedian = (baseURL: string, model: string, apiKey?: string) =>
  Effect.gen(function*() {
    const chat = { "x-openwebui-chat-id": `timing-${baseURL}` }
    const warmUp = yield* stream(baseURL, model, "Hi", chat, apiKey)
    const timings = [warmUp.firstTokenMs]
    for (let i = 0; i < 5; i++) timings.push((yield* stream(baseURL, model, "Hi", chat, apiKey)).firstTokenMs)
    return { ms: median(timings.slice(1)), last: warmUp }
  })

layer(Live, { excludeTestServices: true })("against the real Letta App Server", (it) => {
  it.effect("the CLI, the server's OpenAI stream, chats through the store across a restart, and a side-by-side", () =>
    Effect.gen(function*() {
      const stub = yield* StubLlm.StubLlm
      const app = yield* startAppServer(home, stub.url, token)
      const env = { LETTA_BASE_URL: app.ws, LETTA_AGENT_ID: app.agentId, LETTA_API_KEY: token }

      // -- the CLI ---------------------------------------------------------------------------------------------------
      const agents = yield* runCli(["agents"], { env })
      assert.strictEqual(agents.code, 0, agents.stderr)
      assert.match(agents.stdout, new RegExp(`^${app.agentId}\\s+pipeline-test`, "m"))
      const hello = yield* runCli(["chat", "Hello"], { env })
      assert.strictEqual(hello.code, 0, hello.stderr)
      assert.strictEqual(hello.stdout.trim(), "Hello from the stub LLM! I received 5 characters.")
      assert.include(hello.stderr, "The user greeted me; I will answer briefly.")
      const tool = yield* runCli(["chat", "read the file [[tool]]"], { env })
      assert.strictEqual(tool.code, 0, tool.stderr)
      assert.include(tool.stdout, `→ Read {"file_path":"${file}"}`)
      assert.include(tool.stdout, "← success: 1")
      assert.include(tool.stdout, "hello file content")
      assert.include(tool.stdout, "Tool result received. Final answer from the stub LLM.")
      const failed = yield* runCli(["chat", "please [[fail]]"], { env })
      assert.strictEqual(failed.code, 1)
      assert.include(failed.stderr, "stub forced failure")
      const doctor = yield* runCli(["doctor"], { env })
      assert.strictEqual(doctor.code, 0, doctor.stdout)
      assert.include(doctor.stdout, "✓ reachable: Letta 0.32.18")
      const refused = yield* runCli(["agents"], { env: { ...env, LETTA_API_KEY: "not-the-token" } })
      assert.strictEqual(refused.code, 1)
      assert.include(refused.stderr, "refused the bearer token")
      assert.notInclude(refused.stdout + refused.stderr, "not-the-token")

      // -- the server over the App Server, with its map in SQLite ----------------------------------------------------
      const data = join(home, "pipeline-data")
      const serverEnv = { LETTA_BASE_URL: app.ws, LETTA_API_KEY: token, PIPELINE_STORE: "sqlite", PIPELINE_DATA_DIR: data }
      const ours = yield* Effect.scoped(Effect.gen(function*() {
        const url = `${yield* startAndWait(["serve", "--port", "0"], serverEnv)}/v1`
        const plain = yield* stream(url, app.agentId, "Hello Letta", { "x-openwebui-chat-id": "chat-apples" })
        assert.include(plain.content, "Hello from the stub LLM! I received 11 characters.")
        assert.include(plain.reasoning, "The user greeted me")
        assert.isTrue(plain.usage)
        const withTool = yield* stream(url, app.agentId, "apples [[tool]]", { "x-openwebui-chat-id": "chat-apples" })
        // Open WebUI's chat header: the call and its result as its own tool-call items
        assert.deepStrictEqual(withTool.items.map((item) => [item.type, item.call_id]), [["function_call", "call_stub_1"], ["function_call_output", "call_stub_1"]])
        assert.include(String(withTool.items[0]?.arguments), `"file_path"`)
        assert.include(JSON.stringify(withTool.items[1]?.output), "hello file content")
        assert.include(withTool.content, "Tool result received. Final answer from the stub LLM.")
        yield* stream(url, app.agentId, "bananas", { "x-openwebui-chat-id": "chat-bananas" })
        return (yield* firstTokenMedian(url, app.agentId)).ms
      }))

      // a new server process over the same SQLite file continues chat-apples in its App Server conversation
      yield* Effect.scoped(Effect.gen(function*() {
        const url = `${yield* startAndWait(["serve", "--port", "0"], serverEnv)}/v1`
        const before = (yield* stub.requests).length
        yield* stream(url, app.agentId, "after the restart", { "x-openwebui-chat-id": "chat-apples" })
        const requests = (yield* stub.requests).slice(before)
        const history = JSON.stringify(requests.at(-1))
        assert.include(history, "apples [[tool]]")
        assert.include(history, "after the restart")
        assert.notInclude(history, "bananas")
      }))

      // the map points chat-apples at a conversation the App Server does not have (its data restored from an earlier
      // state): the chat is told once and continues in a new conversation
      const dbFile = join(data, "letta-pipeline.db")
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* Effect.provide(ConversationStore.ConversationStore, yield* Layer.build(ConversationStore.layerSqlite(dbFile)))
        const current = yield* store.getOrCreate(app.agentId, "chat-apples", Effect.dieMessage("chat-apples has a conversation"))
        // a conversation named on /v1/pipe is checked with the App Server (conversation_retrieve): its own is served,
        // one it does not have is refused before any turn
        const url = yield* startAndWait(["serve", "--port", "0"], serverEnv)
        const pipe = (conversation_id: string) =>
          Effect.promise(async () =>
            (await (await fetch(`${url}/v1/pipe`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ model: app.agentId, conversation_id, messages: [{ role: "user", content: "named conversation" }] })
            })).text())
          )
        const served = yield* pipe(current)
        assert.include(served, `"type":"message"`)
        assert.notInclude(served, `"type":"error"`)
        const started = Date.now()
        const missing = yield* pipe("local-conv-999999")
        console.log(`named conversation check: ${Date.now() - started} ms; ${missing.slice(0, 400)}`)
        assert.include(missing, "is not this agent's")
        yield* store.replace(app.agentId, "chat-apples", current, Effect.succeed("local-conv-999999"))
      }))
      yield* Effect.scoped(Effect.gen(function*() {
        const url = `${yield* startAndWait(["serve", "--port", "0"], serverEnv)}/v1`
        const lost = yield* stream(url, app.agentId, "is anyone there", { "x-openwebui-chat-id": "chat-apples" })
        assert.include(lost.content, "no longer exists in Letta")
        assert.include(lost.content, "Hello from the stub LLM!")
        const next = yield* stream(url, app.agentId, "and now", { "x-openwebui-chat-id": "chat-apples" })
        assert.notInclude(next.content, "no longer exists")
        const history = JSON.stringify((yield* stub.requests).at(-1))
        assert.include(history, "is anyone there")
        assert.notInclude(history, "apples [[tool]]")
      }))

      // -- side by side: the App Server's own OpenAI mode ------------------------------------------------------------
      const { last: theirs, ms: theirsMs } = yield* firstTokenMedian(`${app.http}/v1`, "pipeline-test", token)
      assert.include(theirs.content, "Hello from the stub LLM!")
      assert.strictEqual(theirs.reasoning, "", "the App Server's own endpoint streams no reasoning")
      assert.isFalse(theirs.usage, "nor usage")
      const theirTool = yield* stream(`${app.http}/v1`, "pipeline-test", "read it [[tool]]", { "x-openwebui-chat-id": "theirs" }, token)
      assert.include(theirTool.content, "Tool result received. Final answer from the stub LLM.")
      assert.notInclude(theirTool.content, "Read", "the tool runs silently there")
      yield* Effect.logInfo(
        `time to first token, median of 5: App Server --openai-api ${theirsMs.toFixed(1)} ms, ` +
          `letta-pipeline over the App Server ${ours.toFixed(1)} ms`
      )
    }).pipe(Effect.scoped), { timeout: 240_000 })
})

// an App Server of its own (its own HOME): the one above is busy with its single long test
const agentsHome = mkdtempSync(join(os.tmpdir(), "letta-app-server-agents-"))
prepare(agentsHome)

layer(Live, { excludeTestServices: true })("agents over the real Letta App Server", (it) => {
  it.effect("createAgent with an agent's name, model, system, memory blocks and tags; getAgent reads it; deleteAgent removes it; per-user agents", () =>
    Effect.gen(function*() {
      const stub = yield* StubLlm.StubLlm
      const app = yield* startAppServer(agentsHome, stub.url, token)
      const settings = LettaConfig.make({ baseUrl: app.ws, apiKey: Option.some(Redacted.make(token)) })
      const client = yield* Effect.provide(
        LettaClient.LettaClient,
        yield* Layer.build(LettaBackend.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings))))
      )
      const template = yield* client.getAgent(app.agentId)
      const blocks = (template.memory?.blocks ?? []).flatMap((block): Array<NonNullable<LettaSchema.CreateAgent["memory_blocks"]>[number]> =>
        block.label === null || block.label === undefined ? [] : [{ label: block.label, value: block.value }]
      )
      const created = yield* client.createAgent({
        name: `${template.name}-copy`,
        ...(template.model === null || template.model === undefined ? {} : { model: template.model }),
        ...(template.system === null || template.system === undefined ? {} : { system: template.system }),
        memory_blocks: blocks,
        tags: ["per-user", "copy"]
      })
      assert.notStrictEqual(created.id, template.id)
      const read = yield* client.getAgent(created.id)
      assert.strictEqual(read.name, `${template.name}-copy`)
      assert.strictEqual(read.system, template.system)
      assert.strictEqual(read.model, template.model)
      // the App Server adds tags of its own (`git-memory-enabled`)
      assert.includeMembers([...(read.tags ?? [])], ["per-user", "copy"])
      // its agents keep memory in git, not in blocks: it takes `memory_blocks` without complaint but its agents
      // (the template included) answer no `memory`, so only blocks it does answer are compared
      assert.deepStrictEqual(
        (read.memory?.blocks ?? []).map((b) => b.label).filter((label) => blocks.some((c) => c.label === label)),
        blocks.map((b) => b.label)
      )
      const listed = yield* client.listAgents()
      assert.isTrue(listed.some((agent) => agent.id === created.id))

      yield* client.deleteAgent(created.id)
      const gone = yield* Effect.either(client.getAgent(created.id))
      assert.isTrue(Either.isLeft(gone) && gone.left instanceof LettaError.LettaError && gone.left.reason === "NotFound")
      assert.isTrue((yield* client.getAgent(template.id)).id === template.id)

      // a per-user model over the App Server: each user's first message makes their own agent (its agent commands)
      const url = `${yield* startAndWait(["serve", "--port", "0"], {
        LETTA_BASE_URL: app.ws,
        LETTA_API_KEY: token,
        PIPELINE_STORE: "memory",
        PIPELINE_USER_MODE: "per-user"
      })}/v1`
      const userAgents = Effect.map(client.listAgents(), (agents) => agents.filter((a) => (a.tags ?? []).includes("letta-pipeline:user-agent")))
      for (const [user, chat] of [["u-ann", "c-1"], ["u-ben", "c-2"], ["u-ann", "c-3"]] as const) {
        const answer = yield* stream(url, app.agentId, "Hello", { "x-openwebui-user-id": user, "x-openwebui-chat-id": chat })
        assert.include(answer.content, "Hello from the stub LLM!", user)
      }
      const made = yield* userAgents
      assert.strictEqual(made.length, 2, made.map((a) => a.name).join(", "))
      for (const user of ["u-ann", "u-ben"]) {
        const own = made.find((a) => (a.tags ?? []).includes(`letta-pipeline:user:${user}`))
        assert.isDefined(own, user)
        assert.strictEqual(own?.system, template.system)
        assert.include(own?.tags ?? [], `letta-pipeline:template:${template.id}`)
      }
      // the model list shows the template, not the users' agents
      const models = yield* Effect.promise(async () =>
        (await (await fetch(`${url}/models`)).json()) as { readonly data: ReadonlyArray<{ readonly id: string }> })
      assert.include(models.data.map((m) => m.id), template.id)
      for (const agent of made) assert.notInclude(models.data.map((m) => m.id), agent.id)
    }).pipe(Effect.scoped), { timeout: 180_000 })
})
