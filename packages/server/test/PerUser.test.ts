/**
 * Per-user models: each user of a shared deployment talks to their own agent, made from the model's template agent on
 * their first message, and is answered from their own memory only; the user comes from Open WebUI's headers, its
 * signed JWT (verified, and nothing unsigned trusted when a secret is set) or the body; a per-user model without a user
 * is refused; a user's agent deleted in Letta is replaced.
 */
import { assert, layer } from "@effect/vitest"
import { Emulator } from "@letta-pipeline/emulator"
import { Effect, Option, Redacted } from "effect"
import * as Jose from "jose"
import { UserAgents, UserAgentStore } from "../src/index.js"
import { call, chat, contentOf, dataLines, demoAgent, fields, json, serverLayer, wsConnect } from "./utils/harness.js"

const secret = "owui-forward-secret-0123456789abcdef"

/** Open WebUI's signed user (`open_webui/utils/headers.py`, `_mint_forward_user_jwt`). */
const signed = (claims: { readonly sub: string; readonly name: string }, options: { readonly key?: string; readonly expiresIn?: string } = {}) =>
  Effect.promise(() =>
    new Jose.SignJWT({ ...claims, email: `${claims.sub}@example.com`, role: "user", iss: "open-webui" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? "5m")
      .sign(new TextEncoder().encode(options.key ?? secret))
  )

/** Open WebUI's forwarded user headers (`ENABLE_FORWARD_USER_INFO_HEADERS=true`). */
const userHeaders = (id: string, name: string, chatId: string) => ({
  "x-openwebui-user-id": id,
  "x-openwebui-user-name": encodeURIComponent(name),
  "x-openwebui-user-email": `${id}@example.com`,
  "x-openwebui-user-role": "user",
  "x-openwebui-chat-id": chatId
})

/** The answer's text of a non-streamed completion. */
const say = (text: string, headers: Record<string, string>, extra: Record<string, unknown> = {}) =>
  Effect.gen(function*() {
    const answer = yield* call("POST", "/v1/chat/completions", { body: yield* chat(text, extra), headers })
    const message = fields(fields((json(answer).choices as ReadonlyArray<unknown> | undefined)?.[0]).message)
    return { status: answer.status, content: String(message.content ?? ""), body: json(answer) }
  })

/** The emulator's agents made for users. */
const userAgents = Effect.flatMap(Emulator.Emulator, (emulator) =>
  Effect.map(emulator.store.agents, (agents) => agents.filter((agent) => agent.tags.includes(UserAgents.userAgentTag))))

const createdMetric = (reason: string) =>
  Effect.map(call("GET", "/metrics"), (answer) => {
    const line = answer.text.split("\n").find((l) => l.startsWith(`letta_pipeline_user_agents_created_total{reason="${reason}"}`))
    return line === undefined ? 0 : Number(line.split(" ").at(-1))
  })

layer(serverLayer({ server: { userMode: "per-user" } }), { excludeTestServices: true })("per-user models", (it) => {
  it.effect("two users tell the agent their names; each is answered from their own memory, in their own agent", () =>
    Effect.gen(function*() {
      const template = yield* demoAgent
      const emulator = yield* Emulator.Emulator
      const alice = yield* say("My name is Alice.", userHeaders("u-alice", "Alice Liddell", "chat-a1"))
      const bob = yield* say("My name is Bob.", userHeaders("u-bob", "Bob", "chat-b1"))
      assert.strictEqual(alice.status, 200)
      assert.include(alice.content, "Nice to meet you, Alice")
      assert.include(bob.content, "Nice to meet you, Bob")
      // new chats: no history to read the name from, only each agent's memory
      const aliceAsks = yield* say("What is my name?", userHeaders("u-alice", "Alice Liddell", "chat-a2"))
      const bobAsks = yield* say("What is my name?", userHeaders("u-bob", "Bob", "chat-b2"))
      assert.include(aliceAsks.content, "Your name is Alice.")
      assert.include(bobAsks.content, "Your name is Bob.")

      // two agents, one per user, made from the template, tagged and attached to the user's identity
      const made = yield* userAgents
      assert.strictEqual(made.length, 2)
      const byUser = (id: string) => made.find((agent) => agent.tags.includes(UserAgents.userTag(id)))
      const [aliceAgent, bobAgent] = [byUser("u-alice"), byUser("u-bob")]
      assert.isDefined(aliceAgent)
      assert.isDefined(bobAgent)
      assert.notStrictEqual(aliceAgent?.id, template.id)
      assert.include(aliceAgent?.tags ?? [], UserAgents.templateTag(template.id))
      assert.strictEqual(aliceAgent?.system, template.system)
      assert.include(aliceAgent?.name ?? "", "Alice Liddell")
      const identities = yield* emulator.store.identities
      const aliceIdentity = identities.find((identity) => identity.identifier_key === UserAgents.identityKey("u-alice"))
      assert.strictEqual(aliceIdentity?.name, "Alice Liddell")
      assert.strictEqual(aliceIdentity?.identity_type, "user")
      assert.deepStrictEqual(aliceIdentity?.agent_ids, [aliceAgent?.id])
      // the template's memory is untouched
      const after = Option.getOrThrow(yield* emulator.store.agent(template.id))
      assert.notInclude(after.memory.blocks.map((block) => block.value).join("\n"), "Name:")

      // the model list shows the template once, no user's copy
      const models = (json(yield* call("GET", "/v1/models")).data as ReadonlyArray<{ readonly id: string }>).map((m) => m.id)
      assert.include(models, template.id)
      for (const agent of made) assert.notInclude(models, agent.id)
      assert.strictEqual(yield* createdMetric("first"), 2)
    }))

  it.effect("a per-user model without a user is refused, and no agent answers (not even the shared one)", () =>
    Effect.gen(function*() {
      const before = (yield* userAgents).length
      const answer = yield* call("POST", "/v1/chat/completions", { body: yield* chat("hello"), headers: { "x-openwebui-chat-id": "c-x" } })
      assert.strictEqual(answer.status, 400)
      const error = fields(json(answer).error)
      assert.strictEqual(error.code, "user_required")
      assert.include(String(error.message), "gives each user their own agent")
      assert.include(String(error.message), "ENABLE_FORWARD_USER_INFO_HEADERS")
      // a malformed user is refused too, by name
      const bad = yield* call("POST", "/v1/chat/completions", { body: yield* chat("hello", { user: { id: "" } }) })
      assert.strictEqual(bad.status, 401)
      assert.include(String(fields(json(bad).error).message), "the body's user")
      assert.strictEqual((yield* userAgents).length, before)
    }))

  it.effect("Pipelines' body user, OpenAI's user string and the native stream all reach the user's own agent", () =>
    Effect.gen(function*() {
      const template = yield* demoAgent
      // Open WebUI on a Pipelines connection: `letta.<agent>` as the model, the user object in the body
      const viaPipelines = yield* call("POST", "/chat/completions", {
        body: {
          model: `letta.${template.id}`,
          messages: [{ role: "user", content: "My name is Carol." }],
          user: { id: "u-carol", name: "Carol", email: "carol@example.com", role: "user" }
        }
      })
      assert.strictEqual(viaPipelines.status, 200)
      // the native SSE surface with OpenAI's `user` string, in a new conversation of that agent
      const native = yield* call("POST", "/v1/pipe", {
        body: { model: template.id, user: "u-carol", messages: [{ role: "user", content: "What is my name?" }] }
      })
      assert.strictEqual(native.status, 200)
      const said = dataLines(native.text).map(fields).filter((event) => event.type === "message")
        .map((event) => String(fields(event.data).content)).join("")
      assert.include(said, "Your name is Carol.")
      // the WebSocket: a turn message with the user; and one without it is an error event, the socket lives on
      const ws = yield* wsConnect
      yield* ws.send({ type: "turn", model: template.id, user: { id: "u-carol" }, messages: [{ role: "user", content: "What is my name?" }] })
      const overWs = yield* ws.untilEnd
      assert.include(overWs.filter((e) => e.type === "message").map((e) => String(fields(e.data).content)).join(""), "Your name is Carol.")
      yield* ws.send({ type: "turn", model: template.id, messages: [{ role: "user", content: "What is my name?" }] })
      const refused = yield* ws.untilEnd
      assert.strictEqual(refused.at(-1)?.type, "error")
      assert.include(String(fields(refused.at(-1)?.data).message), "names no user")
      assert.strictEqual(fields(refused.at(-1)?.data).status, 400)
      assert.strictEqual((yield* userAgents).filter((agent) => agent.tags.includes(UserAgents.userTag("u-carol"))).length, 1)
    }).pipe(Effect.scoped))

  it.effect("a user whose agent was deleted in Letta gets a new one, with a notice, in the same message", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const first = yield* say("My name is Dora.", userHeaders("u-dora", "Dora", "chat-d1"))
      assert.strictEqual(first.status, 200)
      const old = (yield* userAgents).find((agent) => agent.tags.includes(UserAgents.userTag("u-dora")))
      assert.isDefined(old)
      yield* emulator.store.deleteAgent(old?.id ?? "")
      const next = yield* call("POST", "/v1/chat/completions", {
        body: yield* chat("What is my name?", { stream: true }),
        headers: userHeaders("u-dora", "Dora", "chat-d1")
      })
      assert.strictEqual(next.status, 200)
      const text = contentOf(dataLines(next.text))
      assert.include(text, "Your own agent no longer exists in Letta")
      // a new agent, made from the template: it does not know the name
      assert.include(text, "I do not know your name yet.")
      const fresh = (yield* userAgents).filter((agent) => agent.tags.includes(UserAgents.userTag("u-dora")))
      assert.strictEqual(fresh.length, 1)
      assert.notStrictEqual(fresh[0]?.id, old?.id)
      assert.strictEqual(yield* createdMetric("replaced"), 1)
    }))
})

layer(serverLayer({ server: { userMode: "per-user" } }), { excludeTestServices: true })("a reset elsewhere", (it) => {
  it.effect("a user's agent replaced in the map by another replica or the CLI answers that user's next message", () =>
    Effect.gen(function*() {
      const emulator = yield* Emulator.Emulator
      const store = yield* UserAgentStore.UserAgentStore
      const template = yield* demoAgent
      assert.include((yield* say("My name is Gil.", userHeaders("u-gil", "Gil", "chat-g1"))).content, "Nice to meet you, Gil")
      const old = Option.getOrThrow(Option.fromNullable((yield* store.list).find((e) => e.userId === "u-gil")?.agentId))
      const replacement = yield* emulator.store.createAgent({ name: "gil-fresh", tags: [UserAgents.userAgentTag] })
      assert.strictEqual(yield* store.replace(template.id, "u-gil", old, Effect.succeed(replacement.id)), replacement.id)
      // the running server reads the map: the next message goes to the new agent, which knows no name
      assert.include((yield* say("What is my name?", userHeaders("u-gil", "Gil", "chat-g2"))).content, "I do not know your name yet.")
      assert.isTrue(Option.isSome(yield* emulator.store.agent(old)))
    }))
})

layer(serverLayer({ server: { userMode: "per-user", userJwtSecret: Option.some(Redacted.make(secret)) } }), {
  excludeTestServices: true
})("per-user models with Open WebUI's signed users", (it) => {
  it.effect("a valid signed user is served; forged, expired, unsigned and mismatched users are refused before any agent", () =>
    Effect.gen(function*() {
      const ok = yield* say("My name is Erin.", {
        "x-openwebui-user-jwt": yield* signed({ sub: "u-erin", name: "Erin" }),
        "x-openwebui-chat-id": "chat-e1"
      })
      assert.strictEqual(ok.status, 200)
      assert.include(ok.content, "Nice to meet you, Erin")
      const made = (yield* userAgents).length
      assert.strictEqual(made, 1)

      const refusals: ReadonlyArray<readonly [string, Record<string, string>, Record<string, unknown>, string]> = [
        ["forged", { "x-openwebui-user-jwt": yield* signed({ sub: "u-erin", name: "Erin" }, { key: "not-the-secret-0123456789abcdef" }) }, {}, "signature does not match"],
        ["expired", { "x-openwebui-user-jwt": yield* signed({ sub: "u-mallory", name: "M" }, { expiresIn: "-1m" }) }, {}, "expired"],
        ["alg none", { "x-openwebui-user-jwt": `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "u-erin", exp: 4102444800 })}.` }, {}, "not valid"],
        ["not a JWT", { "x-openwebui-user-jwt": "hello" }, {}, "not a JWT"],
        ["unsigned headers", userHeaders("u-erin", "Erin", "chat-e2"), {}, "not signed"],
        ["unsigned body user", {}, { user: { id: "u-erin", name: "Erin" } }, "not signed"],
        ["body user not the signed one", { "x-openwebui-user-jwt": yield* signed({ sub: "u-mallory", name: "M" }) }, { user: { id: "u-erin" } }, "not the signed user"]
      ]
      for (const [what, headers, extra, says] of refusals) {
        const answer = yield* call("POST", "/v1/chat/completions", { body: yield* chat("What is my name?", extra), headers })
        assert.strictEqual(answer.status, 401, what)
        const error = fields(json(answer).error)
        assert.strictEqual(error.code, "user_refused", what)
        assert.include(String(error.message), says, what)
      }
      // without any user: the hint names the signed header
      const none = yield* call("POST", "/v1/chat/completions", { body: yield* chat("hi") })
      assert.strictEqual(none.status, 400)
      assert.include(String(fields(json(none).error).message), "X-OpenWebUI-User-Jwt")
      assert.strictEqual((yield* userAgents).length, made)
    }))
})

layer(serverLayer(), { excludeTestServices: true })("shared models (the default)", (it) => {
  it.effect("users share the agent itself: no agent is made, the user headers change nothing", () =>
    Effect.gen(function*() {
      const answer = yield* say("hello", userHeaders("u-frank", "Frank", "chat-f1"))
      assert.strictEqual(answer.status, 200)
      assert.strictEqual((yield* userAgents).length, 0)
      // and the per-user models valve turns one model per-user at run time
      const valves = json(yield* call("GET", "/letta/valves"))
      const template = yield* demoAgent
      const updated = yield* call("POST", "/letta/valves/update", { body: { ...valves, per_user_models: [template.name] } })
      assert.strictEqual(updated.status, 200)
      const perUser = yield* say("hello", userHeaders("u-frank", "Frank", "chat-f2"))
      assert.strictEqual(perUser.status, 200)
      assert.strictEqual((yield* userAgents).length, 1)
      yield* call("POST", "/letta/valves/update", { body: valves })
    }))
})

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
