/**
 * The real Open WebUI (PyPI `open-webui`, pinned) in front of the server, configured as a user would: the server as an
 * OpenAI API connection (`…/v1`, with Open WebUI forwarding its user and chat headers) and as a Pipelines connection
 * (the server's root, with its prefix id `letta`), over the emulator. Driven through Open WebUI's own HTTP API: sign
 * in, list models, create chats, send messages as its page does, read the stored chats back.
 */
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@letta-pipeline/emulator"
import { Console, Context, Duration, Effect, Layer, Schedule } from "effect"
import { mkdtempSync } from "node:fs"
import * as os from "node:os"
import { join } from "node:path"
import { startAndWait } from "./utils/cli.js"
import { api, type OpenWebUI, openWebUIVersion, startOpenWebUI } from "./utils/openwebui.js"
import { chatOf, type Connected, send, type Stored } from "./utils/openwebuiChat.js"

const key = "pk-open-webui-test"

interface Setup {
  readonly webui: OpenWebUI
  readonly emulator: Emulator.Service
  readonly server: string
  /** The model ids of the demo agent through each connection. */
  readonly models: { readonly openai: string; readonly pipelines: string }
}
class SetupTag extends Context.Tag("OpenWebUISetup")<SetupTag, Setup>() {}

const SetupLive = Layer.scoped(
  SetupTag,
  Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    const server = yield* startAndWait(["serve", "--port", "0"], {
      LETTA_BASE_URL: emulator.url,
      PIPELINE_API_KEY: key,
      PIPELINE_STORE: "memory"
    })
    const webui = yield* startOpenWebUI(mkdtempSync(join(os.tmpdir(), "letta-openwebui-")))
    yield* Console.log(`Open WebUI ${openWebUIVersion}: ready ${webui.readyMs} ms after its start`)
    // Admin Settings → Connections: an OpenAI API connection at /v1, and a Pipelines one at the root
    yield* api(webui).setConnections([
      { url: `${server}/v1`, key, prefix: "" },
      { url: server, key, prefix: "letta" }
    ])
    const agent = emulator.demoAgent.id
    return { webui, emulator, server, models: { openai: agent, pipelines: `letta.${agent}` } }
  })
)

const Live = SetupLive.pipe(
  Layer.provideMerge(Layer.mergeAll(Layer.fresh(Emulator.layer()), NodeContext.layer, NodeHttpClient.layerUndici))
)

const kinds = ["openai", "pipelines"] as const

layer(Live, { excludeTestServices: true, timeout: Duration.minutes(6) })(`the real Open WebUI ${openWebUIVersion}`, (it) => {
  it.effect("every agent appears as a model through both connections; the Pipelines one as a pipeline", () =>
    Effect.gen(function*() {
      const { emulator, models, webui } = yield* SetupTag
      const second = yield* emulator.store.createAgent({ name: "second-agent" })
      // Open WebUI caches the model list for a moment: ask until the new agent is there
      const listed = yield* api(webui).models.pipe(
        Effect.filterOrFail((list) => list.data.some((m) => m.id === second.id)),
        Effect.retry(Schedule.spaced("500 millis").pipe(Schedule.upTo("20 seconds")))
      )
      const ids = listed.data.map((m) => m.id)
      for (const id of [models.openai, models.pipelines, second.id, `letta.${second.id}`]) assert.include(ids, id)
      assert.isUndefined(listed.data.find((m) => m.id === models.openai)?.pipeline)
      assert.isDefined(listed.data.find((m) => m.id === models.pipelines)?.pipeline)
      assert.strictEqual(listed.data.find((m) => m.id === models.openai)?.name, "demo-agent")
    }))

  for (const kind of kinds) {
    it.effect(`${kind}: reasoning, the tool call with its result (never run by Open WebUI), the answer and usage are stored`, () =>
      Effect.gen(function*() {
        const setup = yield* SetupTag
        const model = setup.models[kind]
        const before = yield* setup.emulator.stats.snapshot
        const { chat, answer } = yield* send(setup.webui, { model, content: "Please search for Letta memory" })
        const after = yield* setup.emulator.stats.snapshot
        // one Letta turn: Open WebUI did not call the model again to run the tool itself
        assert.strictEqual(after.total_streams - before.total_streams, 1)
        assert.isTrue(answer.done)
        assert.isNull(answer.error ?? null)
        assert.strictEqual(answer.content, `I searched for "Letta memory" and found 3 results: Letta documentation, Letta blog, Letta on GitHub. This is the start of our conversation.`)
        assert.deepStrictEqual(answer.output.map((item) => item.type), ["reasoning", "function_call", "function_call_output", "reasoning", "message"])
        const call = answer.output[1]!
        const result = answer.output[2]!
        assert.strictEqual(call.name, "web_search")
        assert.strictEqual(call.arguments, `{"query":"Letta memory"}`)
        assert.strictEqual(result.call_id, call.call_id)
        assert.deepStrictEqual(result.output, [{ type: "input_text", text: `Found 3 results for "Letta memory": Letta documentation, Letta blog, Letta on GitHub.` }])
        assert.include(JSON.stringify(answer.output[0]!.content), "I will call web_search")
        assert.notInclude(answer.content, "<details")
        assert.isAbove(answer.usage?.total_tokens ?? 0, 0)
        assert.strictEqual(chat.id.length > 0, true)
      }))

    it.effect(`${kind}: a second message continues the Letta conversation; a new chat starts a new one; regenerate sends only the newest message`, () =>
      Effect.gen(function*() {
        const setup = yield* SetupTag
        const model = setup.models[kind]
        const first = yield* send(setup.webui, { model, content: `Hello from ${kind}` })
        const second = yield* send(setup.webui, { model, content: "And again", chat: first.chat })
        assert.include(second.answer.content, `You said: "And again"`)
        assert.include(second.answer.content, `Hello from ${kind}`)
        const fresh = yield* send(setup.webui, { model, content: "A new chat" })
        assert.include(fresh.answer.content, "This is the start of our conversation")
        // regenerate: a new answer to the same user message, as a sibling of the first
        const streams = (yield* setup.emulator.stats.streams).length
        const again = yield* send(setup.webui, { model, regenerate: second, chat: second.chat })
        const sent = (yield* setup.emulator.stats.streams).slice(streams).map((s) => s.message)
        assert.deepStrictEqual(sent, ["And again"])
        assert.include(again.answer.content, `You said: "And again"`)
        const stored = yield* chatOf(setup.webui, first.chat.id)
        assert.strictEqual(Object.values(stored.history.messages).filter((m) => m.role === "assistant").length, 3)
      }))
  }
})

export type { Connected, Stored }
