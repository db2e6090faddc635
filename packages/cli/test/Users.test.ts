/**
 * Per-user models from the terminal: `chat --user` and `users list` / `users reset`, the built CLI against an emulator,
 * with the user → agent map in SQLite in a folder of its own.
 */
import { FileSystem, HttpClient, HttpClientResponse } from "@effect/platform"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import { LettaSchema } from "@letta-pipeline/core"
import { Emulator } from "@letta-pipeline/emulator"
import { UserAgents } from "@letta-pipeline/server"
import { Effect, Layer, Schema } from "effect"
import { runCli } from "./utils/cli.js"

const Row = Schema.Struct({
  template_id: Schema.String,
  template_name: Schema.NullOr(Schema.String),
  user_id: Schema.String,
  agent_id: Schema.NullOr(Schema.String),
  created_at: Schema.String
})
const decodeRow = Schema.decodeUnknownSync(Schema.parseJson(Row))

/** Every agent the emulator serves, through its REST API. */
const emulatorAgents = Effect.gen(function*() {
  const emulator = yield* Emulator.Emulator
  const response = yield* HttpClient.get(`${emulator.url}/v1/agents/?limit=1000`)
  return yield* HttpClientResponse.schemaBodyJson(LettaSchema.AgentList)(response)
}).pipe(Effect.scoped)

/** The emulator's agents of this user (by the tag every user's agent carries). */
const agentsOf = (user: string) =>
  Effect.map(emulatorAgents, (agents) => agents.filter((agent) => (agent.tags ?? []).includes(UserAgents.userTag(user))))

/** The status of `GET /v1/agents/{id}` on the emulator. */
const agentStatus = (id: string) =>
  Effect.flatMap(Emulator.Emulator, (emulator) => HttpClient.get(`${emulator.url}/v1/agents/${id}`)).pipe(
    Effect.map((response) => response.status),
    Effect.scoped
  )

/** The emulator, its demo agent as a per-user model, and a fresh folder for the SQLite store. */
const perUserEnv = Effect.gen(function*() {
  const emulator = yield* Emulator.Emulator
  const dir = yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "users-test-" }))
  return {
    LETTA_BASE_URL: emulator.url,
    LETTA_AGENT_ID: emulator.demoAgent.id,
    PIPELINE_STORE: "sqlite",
    PIPELINE_DATA_DIR: dir,
    PIPELINE_PER_USER_MODELS: emulator.demoAgent.name
  }
})

const listJson = (env: Record<string, string>) =>
  Effect.map(runCli(["users", "list", "--json"], { env }), (ran) => {
    assert.strictEqual(ran.code, 0, ran.stderr)
    return ran.stdout.trimEnd().split("\n").map((line) => decodeRow(line))
  })

const agentOf = (rows: ReadonlyArray<typeof Row.Type>, user: string) => {
  const row = rows.find((candidate) => candidate.user_id === user)
  assert.isDefined(row, `no row for ${user}`)
  assert.isNotNull(row?.agent_id ?? null, `no agent for ${user}`)
  return row?.agent_id ?? ""
}

const Live = Layer.mergeAll(Emulator.layer(), NodeContext.layer, NodeHttpClient.layerUndici)

layer(Live, { excludeTestServices: true })("letta-pipeline users", (it) => {
  describe("chat --user", () => {
    it.scoped("each user gets their own agent from the template, reused on their next message; list and reset manage them", () =>
      Effect.gen(function*() {
        const emulator = yield* Emulator.Emulator
        const template = emulator.demoAgent
        const env = yield* perUserEnv

        const alice = yield* runCli(["chat", "hello from alice", "--user", "alice"], { env })
        assert.strictEqual(alice.code, 0, alice.stderr)
        // the emulator answers with the name of the agent that got the turn
        assert.include(alice.stdout, `I am ${template.name} for alice`)
        const bob = yield* runCli(["chat", "hello from bob", "--user", "bob"], { env })
        assert.strictEqual(bob.code, 0, bob.stderr)
        assert.include(bob.stdout, `I am ${template.name} for bob`)

        const rows = yield* listJson(env)
        assert.deepStrictEqual(rows.map((row) => row.user_id).sort(), ["alice", "bob"])
        for (const row of rows) {
          assert.strictEqual(row.template_id, template.id)
          assert.strictEqual(row.template_name, template.name)
          assert.isFalse(Number.isNaN(Date.parse(row.created_at)), row.created_at)
        }
        const aliceAgent = agentOf(rows, "alice")
        const bobAgent = agentOf(rows, "bob")
        assert.notStrictEqual(aliceAgent, bobAgent)

        // both exist in Letta, tagged, and neither is the template
        const agents = yield* emulatorAgents
        assert.strictEqual((yield* agentsOf("alice")).length, 1)
        assert.strictEqual((yield* agentsOf("bob")).length, 1)
        for (const [user, id] of [["alice", aliceAgent], ["bob", bobAgent]] as const) {
          assert.notStrictEqual(id, template.id)
          const agent = agents.find((candidate) => candidate.id === id)
          assert.isDefined(agent, `${user}'s agent ${id} is not in the emulator`)
          assert.includeMembers([...(agent?.tags ?? [])], [
            UserAgents.userAgentTag,
            UserAgents.templateTag(template.id),
            UserAgents.userTag(user)
          ])
        }

        // alice's second message goes to the same agent: no new one, and it remembers her first message
        const again = yield* runCli(["chat", "it is alice again", "--user", "alice"], { env })
        assert.strictEqual(again.code, 0, again.stderr)
        assert.include(again.stdout, `I am ${template.name} for alice`)
        assert.include(again.stdout, "Before that you said: \"hello from alice\"")
        assert.deepStrictEqual((yield* agentsOf("alice")).map((agent) => agent.id), [aliceAgent])
        assert.strictEqual(agentOf(yield* listJson(env), "alice"), aliceAgent)

        // the table: a header, then one line per user with agent, template name and id
        const table = yield* runCli(["users", "list"], { env })
        assert.strictEqual(table.code, 0, table.stderr)
        const [header, ...lines] = table.stdout.trimEnd().split("\n")
        assert.match(header ?? "", /^USER\s+AGENT\s+TEMPLATE\s+TEMPLATE ID\s+CREATED$/)
        assert.strictEqual(lines.length, 2)
        for (const [user, id] of [["alice", aliceAgent], ["bob", bobAgent]] as const) {
          const line = lines.find((candidate) => candidate.startsWith(`${user} `)) ?? ""
          assert.match(line, new RegExp(`^${user}\\s+${id}\\s+${template.name}\\s+${template.id}\\s+\\d{4}-\\d\\d-\\d\\dT`))
        }

        // reset: a new agent for alice, the old one kept in Letta; bob's untouched
        const reset = yield* runCli(["users", "reset", "alice", "--model", template.name], { env })
        assert.strictEqual(reset.code, 0, reset.stderr)
        const afterReset = yield* listJson(env)
        const resetAgent = agentOf(afterReset, "alice")
        assert.notStrictEqual(resetAgent, aliceAgent)
        assert.strictEqual(agentOf(afterReset, "bob"), bobAgent)
        assert.include(reset.stdout, `new agent ${resetAgent}`)
        assert.include(reset.stdout, `previous agent ${aliceAgent} kept in Letta`)
        assert.strictEqual(yield* agentStatus(aliceAgent), 200)
        assert.strictEqual(yield* agentStatus(resetAgent), 200)
        assert.sameMembers((yield* agentsOf("alice")).map((agent) => agent.id), [aliceAgent, resetAgent])
        // the next message goes to the new agent, which knows nothing of the old conversation
        const fresh = yield* runCli(["chat", "who am I?", "--user", "alice"], { env })
        assert.strictEqual(fresh.code, 0, fresh.stderr)
        assert.include(fresh.stdout, "This is the start of our conversation")

        // --delete-previous: the replaced agent is gone from Letta; the template by id works as by name
        const deleting = yield* runCli(["users", "reset", "alice", "--model", template.id, "--delete-previous"], { env })
        assert.strictEqual(deleting.code, 0, deleting.stderr)
        const newest = agentOf(yield* listJson(env), "alice")
        assert.notStrictEqual(newest, resetAgent)
        assert.include(deleting.stdout, `previous agent ${resetAgent} deleted from Letta`)
        assert.strictEqual(yield* agentStatus(resetAgent), 404)
        assert.strictEqual(yield* agentStatus(newest), 200)
        assert.strictEqual(yield* agentStatus(aliceAgent), 200)
        assert.strictEqual(yield* agentStatus(template.id), 200)
        assert.sameMembers((yield* agentsOf("alice")).map((agent) => agent.id), [aliceAgent, newest])

        // --model: that template's users; a template Letta does not have is named
        const byTemplate = yield* runCli(["users", "list", "--model", template.name, "--json"], { env })
        assert.strictEqual(byTemplate.code, 0, byTemplate.stderr)
        assert.strictEqual(byTemplate.stdout.trimEnd().split("\n").length, 2)
        const other = yield* runCli(["users", "list", "--model", "nobody"], { env })
        assert.strictEqual(other.code, 1)
        assert.include(other.stderr, "no agent is named \"nobody\"")
      }), { timeout: 180_000 })

    it.scoped("a per-user model without --user exits 1 with one line naming --user; the map stays empty", () =>
      Effect.gen(function*() {
        const env = yield* perUserEnv
        // named as given: here by name, LETTA_AGENT_ID being the id
        const ran = yield* runCli(["chat", "who answers?", "--agent", "demo-agent"], { env })
        assert.strictEqual(ran.code, 1)
        assert.strictEqual(ran.stdout, "")
        const lines = ran.stderr.trim().split("\n")
        assert.strictEqual(lines.length, 1, ran.stderr)
        assert.include(lines[0], "The model demo-agent is per-user")
        assert.include(lines[0], "pass --user <id>")
        const empty = yield* runCli(["users", "list"], { env })
        assert.strictEqual(empty.code, 0, empty.stderr)
        assert.include(empty.stdout, "No user has an agent yet")
        assert.include(empty.stdout, "PIPELINE_USER_MODE")
        assert.include(empty.stdout, "PIPELINE_PER_USER_MODELS")
        const badUser = yield* runCli(["chat", "hi", "--user", " padded"], { env })
        assert.strictEqual(badUser.code, 1)
        assert.include(badUser.stderr, "is not a user id")
      }), { timeout: 60_000 })

    it.scoped("a shared model ignores --user: the template answers, and no user agent is made", () =>
      Effect.gen(function*() {
        const { PIPELINE_PER_USER_MODELS: _, ...env } = yield* perUserEnv
        const ran = yield* runCli(["chat", "shared here", "--user", "carol"], { env })
        assert.strictEqual(ran.code, 0, ran.stderr)
        assert.include(ran.stdout, "I am demo-agent, an emulated")
        assert.strictEqual((yield* agentsOf("carol")).length, 0)
        const none = yield* runCli(["users", "list"], { env })
        assert.include(none.stdout, "No user has an agent yet")
        // PIPELINE_USER_MODE=per-user makes every model per-user
        const everyModel = yield* runCli(["chat", "hi", "--user", "carol"], { env: { ...env, PIPELINE_USER_MODE: "per-user" } })
        assert.strictEqual(everyModel.code, 0, everyModel.stderr)
        assert.include(everyModel.stdout, "I am demo-agent for carol")
        assert.strictEqual((yield* agentsOf("carol")).length, 1)
      }), { timeout: 60_000 })
  })

  describe("users", () => {
    it.effect("--help lists the subcommands; an unknown option is named (exit 2)", () =>
      Effect.gen(function*() {
        const help = yield* runCli(["users", "--help"])
        assert.strictEqual(help.code, 0, help.stderr)
        assert.match(help.stdout, /^\s+- list .*--json/m)
        assert.match(help.stdout, /^\s+- reset .*--model .*--delete-previous/m)
        const listHelp = yield* runCli(["users", "list", "--help"])
        assert.strictEqual(listHelp.code, 0, listHelp.stderr)
        assert.include(listHelp.stdout, "$ list")
        const unknown = yield* runCli(["users", "list", "--foo"])
        assert.strictEqual(unknown.code, 2)
        assert.include(unknown.stderr, "Unknown option --foo for `letta-pipeline users`")
        const noModel = yield* runCli(["users", "reset", "alice"])
        assert.strictEqual(noModel.code, 2)
        assert.include(noModel.stderr, "--model")
      }), { timeout: 60_000 })
  })
})
