/**
 * The chat → conversation store in memory, in SQLite and in a real PostgreSQL: one conversation per chat even under
 * concurrent first messages (also across two "replicas"), persistence across restarts, failure handling.
 */
import { NodeContext } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Redacted, Ref, Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { EnvConfig, LettaError } from "@letta-pipeline/core"
import { ConversationStore, UserAgentStore } from "../src/index.js"
import { type Postgres, startPostgres } from "./utils/postgres.js"

/** A `create` that counts its calls and takes a moment, so that concurrent callers overlap. */
const counter = Effect.map(Ref.make(0), (calls) => ({
  calls,
  create: Effect.flatMap(Ref.updateAndGet(calls, (n) => n + 1), (n) => Effect.as(Effect.sleep("30 millis"), `conv-${n}`))
}))

/** The behaviour every store must have (the chats' conversations and the users' agents alike). */
const contract = (store: Effect.Effect<Pick<ConversationStore.Service, "getOrCreate" | "replace">, unknown, Scope.Scope>) => {
  it.live("concurrent first messages of one chat create one conversation; other chats get their own", () =>
    Effect.gen(function*() {
      const s = yield* store
      const { calls, create } = yield* counter
      const ids = yield* Effect.all(
        Array.from({ length: 25 }, () => s.getOrCreate("agent-a", "chat-1", create)),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(new Set(ids).size, 1)
      assert.strictEqual(yield* Ref.get(calls), 1)
      const other = yield* s.getOrCreate("agent-a", "chat-2", create)
      const otherAgent = yield* s.getOrCreate("agent-b", "chat-1", create)
      assert.notStrictEqual(other, ids[0])
      assert.notStrictEqual(otherAgent, ids[0])
      assert.strictEqual(yield* s.getOrCreate("agent-a", "chat-1", create), ids[0])
      assert.strictEqual(yield* Ref.get(calls), 3)
    }).pipe(Effect.scoped))

  it.live("a conversation gone from Letta is replaced once under concurrent callers; a late caller gets the replacement", () =>
    Effect.gen(function*() {
      const s = yield* store
      const { calls, create } = yield* counter
      const lost = yield* s.getOrCreate("agent-g", "chat-gone", Effect.succeed("conv-lost"))
      const replaced = yield* Effect.all(
        Array.from({ length: 10 }, () => s.replace("agent-g", "chat-gone", lost, create)),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(new Set(replaced).size, 1)
      assert.notStrictEqual(replaced[0], lost)
      assert.strictEqual(yield* Ref.get(calls), 1)
      // recorded: the chat's next message finds the new conversation, and replacing the old one again changes nothing
      assert.strictEqual(yield* s.getOrCreate("agent-g", "chat-gone", create), replaced[0])
      assert.strictEqual(yield* s.replace("agent-g", "chat-gone", lost, create), replaced[0])
      assert.strictEqual(yield* Ref.get(calls), 1)
      // a failed replacement is not remembered either
      const failure = new LettaError.LettaError({ reason: "NotFound", detail: "Agent not found" })
      const current = replaced[0] ?? ""
      assert.strictEqual(yield* Effect.flip(s.replace("agent-g", "chat-gone", current, Effect.fail(failure))), failure)
      assert.strictEqual(yield* s.getOrCreate("agent-g", "chat-gone", Effect.succeed("conv-after")), "conv-after")
    }).pipe(Effect.scoped))

  it.live("a creation stopped midway (the user's Stop) holds nothing: a waiter and the next message create at once", () =>
    Effect.gen(function*() {
      const s = yield* store
      const started = yield* Deferred.make<void>()
      const first = yield* Effect.fork(s.getOrCreate("agent-a", "chat-stop", Effect.zipRight(Deferred.succeed(started, undefined), Effect.never)))
      yield* Deferred.await(started)
      // a caller of the same chat waits for the creation under way, then takes over when it is stopped
      const waiter = yield* Effect.fork(s.getOrCreate("agent-a", "chat-stop", Effect.succeed("conv-waiter")))
      yield* Fiber.interrupt(first)
      const bound = { duration: Duration.seconds(10), onTimeout: () => "still waiting" }
      assert.strictEqual(yield* Fiber.join(waiter).pipe(Effect.timeoutTo({ ...bound, onSuccess: (id) => id })), "conv-waiter")
      assert.strictEqual(yield* s.getOrCreate("agent-a", "chat-stop", Effect.succeed("conv-later")), "conv-waiter")
      // stopped with nobody waiting: the next message creates
      const lone = yield* Deferred.make<void>()
      const alone = yield* Effect.fork(s.getOrCreate("agent-a", "chat-stop-2", Effect.zipRight(Deferred.succeed(lone, undefined), Effect.never)))
      yield* Deferred.await(lone)
      yield* Fiber.interrupt(alone)
      const next = s.getOrCreate("agent-a", "chat-stop-2", Effect.succeed("conv-next"))
      assert.strictEqual(yield* next.pipe(Effect.timeoutTo({ ...bound, onSuccess: (id) => id })), "conv-next")
    }).pipe(Effect.scoped))

  it.live("a failed creation is not remembered: the next message tries again", () =>
    Effect.gen(function*() {
      const s = yield* store
      const failure = new LettaError.LettaError({ reason: "ServerError", detail: "boom" })
      const first = yield* Effect.flip(s.getOrCreate("agent-a", "chat-fail", Effect.fail(failure)))
      assert.strictEqual(first, failure)
      assert.strictEqual(yield* s.getOrCreate("agent-a", "chat-fail", Effect.succeed("conv-ok")), "conv-ok")
    }).pipe(Effect.scoped))
}

/** The store of a layer, alive as long as the surrounding scope. */
const storeOf = <E>(built: Layer.Layer<ConversationStore.ConversationStore, E>) =>
  Effect.flatMap(Layer.build(built), (context) => Effect.provide(ConversationStore.ConversationStore, context))

/** The user → agent map of a layer, alive as long as the surrounding scope. */
const usersOf = <E>(built: Layer.Layer<UserAgentStore.UserAgentStore, E>) =>
  Effect.flatMap(Layer.build(built), (context) => Effect.provide(UserAgentStore.UserAgentStore, context))

describe("memory", () => {
  contract(storeOf(ConversationStore.layerMemory))
  describe("users' agents", () => contract(usersOf(ConversationStore.layerMemory)))

  it.live("the users' map lists each user's agent, and nothing of a failed creation", () =>
    Effect.gen(function*() {
      const users = yield* usersOf(ConversationStore.layerMemory)
      yield* users.getOrCreate("agent-t", "alice", Effect.succeed("agent-alice"))
      yield* users.getOrCreate("agent-t", "bob", Effect.succeed("agent-bob"))
      yield* Effect.flip(users.getOrCreate("agent-t", "carol", Effect.fail("no")))
      const listed = yield* users.list
      assert.deepStrictEqual(listed.map((e) => [e.templateId, e.userId, e.agentId]).sort(), [
        ["agent-t", "alice", "agent-alice"],
        ["agent-t", "bob", "agent-bob"]
      ])
    }).pipe(Effect.scoped))
})

describe("SQLite", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "letta-pipeline-sqlite-"))
  const file = path.join(dir, "nested", "store.db")
  contract(storeOf(ConversationStore.layerSqlite(file)))
  describe("users' agents", () => contract(usersOf(ConversationStore.layerSqlite(file))))

  it.live("the users' map survives a restart, beside the chats' map in the same file", () =>
    Effect.gen(function*() {
      yield* Effect.scoped(Effect.flatMap(usersOf(ConversationStore.layerSqlite(file)), (s) =>
        s.getOrCreate("agent-tmpl", "user-r", Effect.succeed("agent-of-r"))))
      const again = yield* Effect.scoped(Effect.flatMap(usersOf(ConversationStore.layerSqlite(file)), (s) =>
        Effect.zip(s.getOrCreate("agent-tmpl", "user-r", Effect.succeed("agent-new")), s.list)))
      assert.strictEqual(again[0], "agent-of-r")
      const entry = again[1].find((e) => e.userId === "user-r")
      assert.strictEqual(entry?.agentId, "agent-of-r")
      assert.strictEqual(entry?.templateId, "agent-tmpl")
      assert.isAbove(entry?.createdAt ?? 0, Date.now() - 60_000)
    }))

  it.live("the mapping survives a restart (a new store over the same file)", () =>
    Effect.gen(function*() {
      const first = yield* Effect.scoped(Effect.flatMap(storeOf(ConversationStore.layerSqlite(file)), (s) =>
        s.getOrCreate("agent-r", "chat-r", Effect.succeed("conv-persisted"))))
      const again = yield* Effect.scoped(Effect.flatMap(storeOf(ConversationStore.layerSqlite(file)), (s) =>
        s.getOrCreate("agent-r", "chat-r", Effect.succeed("conv-new"))))
      assert.strictEqual(first, "conv-persisted")
      assert.strictEqual(again, "conv-persisted")
      // a replacement is recorded too, and survives the next restart
      yield* Effect.scoped(Effect.flatMap(storeOf(ConversationStore.layerSqlite(file)), (s) =>
        s.replace("agent-r", "chat-r", "conv-persisted", Effect.succeed("conv-replaced"))))
      const afterRestart = yield* Effect.scoped(Effect.flatMap(storeOf(ConversationStore.layerSqlite(file)), (s) =>
        s.getOrCreate("agent-r", "chat-r", Effect.succeed("conv-new"))))
      assert.strictEqual(afterRestart, "conv-replaced")
    }).pipe(Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true })))))
})

layer(NodeContext.layer, { excludeTestServices: true })("PostgreSQL", (it) => {
  const withPostgres = <A, E>(f: (pg: Postgres) => Effect.Effect<A, E, Scope.Scope>) =>
    Effect.scoped(Effect.flatMap(startPostgres, f))

  it.effect("the contract, two replicas sharing it, a stale claim taken over, and a clear error when it is down", () =>
    withPostgres((pg) =>
      Effect.gen(function*() {
        const url = Redacted.make(pg.url)
        // two independent stores (two pools), as two server replicas would have
        const [a, b] = yield* Effect.all([storeOf(ConversationStore.layerPostgres(url)), storeOf(ConversationStore.layerPostgres(url))], {
          concurrency: 2
        })
        assert.strictEqual(a.kind, "postgres")
        const { calls, create } = yield* counter
        const ids = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).getOrCreate("agent-x", "chat-race", create)),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(new Set(ids).size, 1)
        assert.strictEqual(yield* Ref.get(calls), 1)

        // a replica died holding a claim: after the lease another one takes over
        const sql = yield* Effect.flatMap(Layer.build(PgClient.layer({ url })), (context) =>
          Effect.provide(SqlClient.SqlClient, context))
        const stale = Date.now() - Duration.toMillis(ConversationStore.claimLease) - 1000
        yield* sql`INSERT INTO chat_conversations (agent_id, chat_id, conversation_id, claimed_at, created_at)
          VALUES ('agent-x', 'chat-stale', NULL, ${stale}, ${stale})`
        assert.strictEqual(yield* b.getOrCreate("agent-x", "chat-stale", Effect.succeed("conv-rescued")), "conv-rescued")

        // a creation stopped midway gives its claim back: the other replica creates at once, not after the lease
        const began = yield* Deferred.make<void>()
        const stopped = yield* Effect.fork(a.getOrCreate("agent-x", "chat-stop", Effect.zipRight(Deferred.succeed(began, undefined), Effect.never)))
        yield* Deferred.await(began)
        yield* Fiber.interrupt(stopped)
        const after = yield* b.getOrCreate("agent-x", "chat-stop", Effect.succeed("conv-after-stop")).pipe(
          Effect.timeoutTo({ duration: Duration.seconds(10), onTimeout: () => "still waiting", onSuccess: (id) => id })
        )
        assert.strictEqual(after, "conv-after-stop")

        // the failure contract over PostgreSQL too
        const failure = new LettaError.LettaError({ reason: "ServerError", detail: "boom" })
        assert.strictEqual(yield* Effect.flip(a.getOrCreate("agent-x", "chat-f", Effect.fail(failure))), failure)
        assert.strictEqual(yield* a.getOrCreate("agent-x", "chat-f", Effect.succeed("conv-f")), "conv-f")

        // a conversation gone from Letta, replaced by two replicas at once: one new conversation
        const gone = yield* counter
        const replacements = yield* Effect.all(
          Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).replace("agent-x", "chat-f", "conv-f", gone.create)),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(new Set(replacements).size, 1)
        assert.strictEqual(yield* Ref.get(gone.calls), 1)
        assert.strictEqual(yield* b.getOrCreate("agent-x", "chat-f", gone.create), replacements[0])

        // a new user's first messages reach two replicas at once: one agent
        const [ua, ub] = yield* Effect.all([usersOf(ConversationStore.layerPostgres(url)), usersOf(ConversationStore.layerPostgres(url))], {
          concurrency: 2
        })
        const made = yield* counter
        const agents = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? ua : ub).getOrCreate("agent-template", "new-user", made.create)),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(new Set(agents).size, 1)
        assert.strictEqual(yield* Ref.get(made.calls), 1)
        assert.deepStrictEqual((yield* ub.list).map((e) => [e.templateId, e.userId, e.agentId]), [["agent-template", "new-user", agents[0]]])
      })
    ), { timeout: 60_000 })

  it.effect("PostgreSQL down: a StoreError that says so, never a conversation", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const error = yield* Effect.flip(
        Scope.extend(storeOf(ConversationStore.layerPostgres(Redacted.make("postgres://postgres:hunter2@127.0.0.1:9/postgres"))), scope)
      )
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(error._tag, "StoreError")
      assert.include(error.message, "Conversation store (postgres) unavailable: cannot use the database at 127.0.0.1:9")
      assert.include(error.message, "nothing was sent to the agent")
      assert.notInclude(error.message, "hunter2")
    }), { timeout: 30_000 })
})

// moved from core's EnvConfig.test.ts with the store
describe("ConversationStore.config", () => {
  const provider = (env: Record<string, string>) => ConfigProvider.fromMap(new Map(Object.entries(env)))

  it.effect("the store's variables too: PIPELINE_STORE=, DATABASE_URL= and PIPELINE_DATA_DIR= are unset", () =>
    Effect.gen(function*() {
      const settings = yield* Effect.withConfigProvider(
        ConversationStore.config,
        provider({ PIPELINE_STORE: "", DATABASE_URL: "", PIPELINE_DATA_DIR: " " })
      )
      assert.isTrue(Option.isNone(settings.kind))
      assert.isTrue(Option.isNone(settings.databaseUrl))
      assert.strictEqual(settings.dataDir, "data")
    }))

  it.effect("the store's literal", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.withConfigProvider(ConversationStore.config, provider({ PIPELINE_STORE: "redis" })))
      assert.strictEqual(
        EnvConfig.describe(error),
        "PIPELINE_STORE: expected \"memory\", \"sqlite\" or \"postgres\", got \"redis\""
      )
    }))
})
