/**
 * Each person their own agent, through the real Open WebUI (PyPI `open-webui`, pinned): two users of one Open WebUI,
 * which signs the user it forwards (`FORWARD_USER_INFO_HEADER_JWT_SECRET`, verified by the server with the same
 * `PIPELINE_USER_JWT_SECRET`), talk to a `per-user` model through both connections (OpenAI API and Pipelines). Each
 * tells the agent their name, then asks it in a new chat: each is answered from their own memory only.
 */
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@letta-pipeline/emulator"
import { Console, Context, Duration, Effect, Layer, Schedule } from "effect"
import { createHmac } from "node:crypto"
import { mkdtempSync } from "node:fs"
import * as os from "node:os"
import { join } from "node:path"
import { startAndWait } from "./utils/cli.js"
import { admin, api, type OpenWebUI, openWebUIVersion, request, startOpenWebUI } from "./utils/openwebui.js"
import { isError, send } from "./utils/openwebuiChat.js"

const key = "pk-open-webui-users"
const secret = "shared-user-jwt-secret-for-the-test-0123456789"
/** The emulator's agents made for users carry this tag (`UserAgents.userAgentTag`). */
const userAgentTag = "letta-pipeline:user-agent"

interface Person {
  readonly id: string
  readonly name: string
  /** As this user signed in to Open WebUI. */
  readonly webui: OpenWebUI
}

interface Setup {
  readonly webui: OpenWebUI
  readonly emulator: Emulator.Service
  readonly server: string
  readonly alice: Person
  readonly bob: Person
}
class SetupTag extends Context.Tag("OpenWebUIUsersSetup")<SetupTag, Setup>() {}

/** A user added by the admin (Admin Panel → Users → Add User), signed in. */
const addUser = (webui: OpenWebUI, name: string) =>
  Effect.gen(function*() {
    const email = `${name.toLowerCase()}@example.com`
    const password = admin.password
    const added = yield* request<{ id: string }>(webui.url, webui.token, "POST", "/api/v1/auths/add", { name, email, password, role: "user" })
    const signedIn = yield* request<{ token: string }>(webui.url, "", "POST", "/api/v1/auths/signin", { email, password })
    return { id: added.id, name, webui: { ...webui, token: signedIn.token } } satisfies Person
  })

const SetupLive = Layer.scoped(
  SetupTag,
  Effect.gen(function*() {
    const emulator = yield* Emulator.Emulator
    const server = yield* startAndWait(["serve", "--port", "0"], {
      LETTA_BASE_URL: emulator.url,
      PIPELINE_API_KEY: key,
      PIPELINE_STORE: "memory",
      PIPELINE_PER_USER_MODELS: emulator.demoAgent.name,
      PIPELINE_USER_JWT_SECRET: secret
    })
    const webui = yield* startOpenWebUI(mkdtempSync(join(os.tmpdir(), "letta-openwebui-users-")), {
      FORWARD_USER_INFO_HEADER_JWT_SECRET: secret,
      // the connections' models, for every user without a per-model grant
      BYPASS_MODEL_ACCESS_CONTROL: "true"
    })
    yield* Console.log(`Open WebUI ${openWebUIVersion}: ready ${webui.readyMs} ms after its start`)
    yield* api(webui).setConnections([
      { url: `${server}/v1`, key, prefix: "" },
      { url: server, key, prefix: "letta" }
    ])
    return { webui, emulator, server, alice: yield* addUser(webui, "Alice"), bob: yield* addUser(webui, "Bob") }
  })
)

const Live = SetupLive.pipe(
  Layer.provideMerge(Layer.mergeAll(Layer.fresh(Emulator.layer()), NodeContext.layer, NodeHttpClient.layerUndici))
)

/** The stored answer's text, failing with Open WebUI's stored error when there is one. */
const say = (person: Person, model: string, content: string) =>
  Effect.gen(function*() {
    const sent = yield* send(person.webui, { model, content })
    assert.isFalse(isError(sent.answer), `${person.name}: ${JSON.stringify(sent.answer.error)}`)
    return sent.answer.content
  })

const userAgents = (emulator: Emulator.Service) =>
  Effect.map(emulator.store.agents, (agents) => agents.filter((agent) => agent.tags.includes(userAgentTag)))

layer(Live, { excludeTestServices: true, timeout: Duration.minutes(15) })(`per-user models in the real Open WebUI ${openWebUIVersion}`, (it) => {
  it.effect("two users tell the agent their names; each is answered from their own memory, through either connection", () =>
    Effect.gen(function*() {
      const { alice, bob, emulator } = yield* SetupTag
      const template = emulator.demoAgent
      const [openai, pipelines] = [template.id, `letta.${template.id}`]
      // the users see the model once per connection, no user's copy (Open WebUI caches the list: ask until it is there)
      const listed = yield* api(alice.webui).models.pipe(
        Effect.filterOrFail((list) => list.data.some((m) => m.id === openai) && list.data.some((m) => m.id === pipelines)),
        Effect.retry(Schedule.spaced("500 millis").pipe(Schedule.upTo("20 seconds")))
      )

      assert.include(yield* say(alice, openai, "My name is Alice."), "Nice to meet you, Alice")
      assert.include(yield* say(bob, pipelines, "My name is Bob."), "Nice to meet you, Bob")
      // new chats, so no history holds the name: only each user's agent's memory does
      assert.include(yield* say(alice, openai, "What is my name?"), "Your name is Alice.")
      assert.include(yield* say(bob, pipelines, "What is my name?"), "Your name is Bob.")
      // the same user through the other connection reaches the same agent
      assert.include(yield* say(alice, pipelines, "What is my name?"), "Your name is Alice.")
      assert.include(yield* say(bob, openai, "What is my name?"), "Your name is Bob.")

      const made = yield* userAgents(emulator)
      assert.strictEqual(made.length, 2, made.map((agent) => agent.name).join(", "))
      for (const person of [alice, bob]) {
        const own = made.filter((agent) => agent.tags.includes(`letta-pipeline:user:${person.id}`))
        assert.strictEqual(own.length, 1, person.name)
        const identity = (yield* emulator.store.identities).find((i) => i.identifier_key === `letta-pipeline:${person.id}`)
        assert.strictEqual(identity?.name, person.name)
        assert.deepStrictEqual(identity?.agent_ids, [own[0]?.id])
      }
      // the template's own memory holds neither name
      const blocks = (yield* emulator.store.agent(template.id)).pipe((found) => found._tag === "Some" ? found.value.memory.blocks : [])
      assert.notInclude(blocks.map((block) => block.value).join("\n"), "Name:")
      const ids = listed.data.map((m) => m.id)
      for (const agent of made) {
        assert.notInclude(ids, agent.id)
        assert.notInclude(ids, `letta.${agent.id}`)
      }
    }))

  it.effect("a request that skips Open WebUI with an unsigned or forged user is refused, and makes no agent", () =>
    Effect.gen(function*() {
      const { alice, emulator, server } = yield* SetupTag
      const before = (yield* userAgents(emulator)).length
      const attempt = (headers: Record<string, string>) =>
        Effect.promise(async () => {
          const response = await fetch(`${server}/v1/chat/completions`, {
            method: "POST",
            headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
            body: JSON.stringify({ model: emulator.demoAgent.id, messages: [{ role: "user", content: "What is my name?" }] })
          })
          return { status: response.status, text: await response.text() }
        })
      const unsigned = yield* attempt({ "x-openwebui-user-id": alice.id, "x-openwebui-user-name": "Alice" })
      assert.strictEqual(unsigned.status, 401)
      assert.include(unsigned.text, "not signed")
      const forged = yield* attempt({ "x-openwebui-user-jwt": forge(alice.id) })
      assert.strictEqual(forged.status, 401)
      assert.include(forged.text, "signature does not match")
      assert.strictEqual((yield* userAgents(emulator)).length, before)
    }))
})

/** A token with Open WebUI's claims, signed with a key that is not the shared secret. */
const forge = (sub: string): string => {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
  const body = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub, name: "Alice", exp: Math.floor(Date.now() / 1000) + 600 })}`
  return `${body}.${createHmac("sha256", "not-the-shared-secret").update(body).digest("base64url")}`
}
