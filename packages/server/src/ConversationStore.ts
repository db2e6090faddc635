/**
 * Which Letta conversation belongs to which chat (per agent), kept where it survives restarts and is shared by
 * replicas: in memory (tests), SQLite (the embedded default), PostgreSQL (several replicas).
 *
 * The first message of a chat creates its conversation exactly once, even when two replicas receive it at once: a
 * replica first claims the (agent, chat) row (insert, unique key), creates the conversation, then records it; the other
 * waits for the record. A claim whose owner died is taken over after a lease, so a crash never blocks a chat for good.
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import {
  Clock,
  Config,
  type ConfigError,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  HashMap,
  Layer,
  Option,
  Redacted,
  Schedule,
  Schema,
  SynchronizedRef
} from "effect"
import { mkdirSync } from "node:fs"
import * as path from "node:path"
import { EnvConfig } from "@letta-pipeline/core"
import { StoreError } from "@letta-pipeline/core/LettaError"

/** @category models */
export interface Service {
  /** Which backend keeps the map, for logs and errors. */
  readonly kind: "memory" | "sqlite" | "postgres"
  /**
   * The conversation of this agent and chat; `create` makes it on the chat's first message, once across replicas.
   */
  readonly getOrCreate: <E>(
    agentId: string,
    chatId: string,
    create: Effect.Effect<string, E>
  ) => Effect.Effect<string, E | StoreError>
  /**
   * Replaces the chat's conversation `stale` (gone from Letta) with one `create` makes, once across replicas: a caller
   * that finds it already replaced gets the replacement.
   */
  readonly replace: <E>(
    agentId: string,
    chatId: string,
    stale: string,
    create: Effect.Effect<string, E>
  ) => Effect.Effect<string, E | StoreError>
}

/** @category services */
export class ConversationStore extends Context.Tag("@letta-pipeline/server/ConversationStore")<ConversationStore, Service>() {}

/** How long a claim may stay without its conversation before another replica takes it over. */
export const claimLease = Duration.seconds(30)
/** How long a caller waits for another replica's claim to settle. */
const settleWait = Duration.sum(claimLease, Duration.seconds(5))

// ---------------------------------------------------------------------------------------------------------------------
// memory
// ---------------------------------------------------------------------------------------------------------------------

/**
 * In memory: gone at exit, not shared. Concurrent first messages of one chat share one creation.
 *
 * @category layers
 */
export const layerMemory: Layer.Layer<ConversationStore> = Layer.effect(
  ConversationStore,
  Effect.gen(function*() {
    // a chat's entry settles with its conversation id, or fails (void) when its creator's `create` failed
    type Entry = Deferred.Deferred<string, void>
    const entries = yield* SynchronizedRef.make(HashMap.empty<string, Entry>())
    const keyOf = (agentId: string, chatId: string) => `${agentId}\u0000${chatId}`

    /** The entry to wait for, or a fresh one this caller owns; `takeOver` says whether an existing entry is stale. */
    const claim = (key: string, takeOver: (existing: Entry) => Effect.Effect<boolean>) =>
      Effect.flatMap(Deferred.make<string, void>(), (fresh) =>
        SynchronizedRef.modifyEffect(
          entries,
          (map): Effect.Effect<readonly [readonly [Entry, boolean], HashMap.HashMap<string, Entry>]> =>
            Option.match(HashMap.get(map, key), {
              onNone: () => Effect.succeed([[fresh, true], HashMap.set(map, key, fresh)] as const),
              onSome: (existing) =>
                Effect.map(takeOver(existing), (stale) =>
                  stale ? [[fresh, true], HashMap.set(map, key, fresh)] as const : [[existing, false], map] as const)
            })
        ))

    // a creator that fails or is interrupted (a user's Stop) gives its entry back: the waiters and the next message
    // try again, where an entry left unsettled would keep the chat waiting for good
    const settle = <E>(key: string, entry: Entry, create: Effect.Effect<string, E>) =>
      create.pipe(Effect.onExit(Exit.match({
        onSuccess: (id) => Deferred.succeed(entry, id),
        onFailure: () =>
          Effect.zipRight(
            SynchronizedRef.update(entries, (map) =>
              Option.exists(HashMap.get(map, key), (current) => current === entry) ? HashMap.remove(map, key) : map),
            Deferred.fail(entry, undefined)
          )
      })))

    const getOrCreate = <E>(agentId: string, chatId: string, create: Effect.Effect<string, E>): Effect.Effect<string, E> =>
      Effect.gen(function*() {
        const key = keyOf(agentId, chatId)
        const [entry, owner] = yield* claim(key, () => Effect.succeed(false))
        // a waiter whose creator failed tries again (and may become the creator)
        if (!owner) return yield* Effect.catchAll(Deferred.await(entry), () => getOrCreate(agentId, chatId, create))
        return yield* settle(key, entry, create)
      })

    const replace = <E>(agentId: string, chatId: string, stale: string, create: Effect.Effect<string, E>) =>
      Effect.gen(function*() {
        const key = keyOf(agentId, chatId)
        // an entry settled with the stale conversation is taken over; one still being created, or already replaced,
        // is waited for
        const [entry, owner] = yield* claim(key, (existing) =>
          Effect.flatMap(Deferred.poll(existing), Option.match({
            onNone: () => Effect.succeed(false),
            onSome: (settled) => Effect.map(Effect.exit(settled), (exit) => Exit.isFailure(exit) || exit.value === stale)
          })))
        if (!owner) return yield* Effect.catchAll(Deferred.await(entry), () => getOrCreate(agentId, chatId, create))
        return yield* settle(key, entry, create)
      })

    return ConversationStore.of({ kind: "memory", getOrCreate, replace })
  })
)

// ---------------------------------------------------------------------------------------------------------------------
// SQL (SQLite and PostgreSQL share the statements)
// ---------------------------------------------------------------------------------------------------------------------

const migrations = Migrator.fromRecord({
  "0001_chat_conversations": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE IF NOT EXISTS chat_conversations (
      agent_id TEXT NOT NULL,
      chat_id TEXT NOT NULL,
      conversation_id TEXT,
      claimed_at BIGINT NOT NULL,
      created_at BIGINT NOT NULL,
      PRIMARY KEY (agent_id, chat_id)
    )`)
})

/** Runs the migrations; replicas starting together may collide on the first one, so it is retried briefly. */
const migrate = Migrator.make({})({ loader: migrations, table: "letta_pipeline_migrations" }).pipe(
  Effect.retry({ times: 5, schedule: Schedule.spaced("200 millis") })
)

/** PostgreSQL returns BIGINT as text. */
const Millis = Schema.Union(Schema.Number, Schema.NumberFromString)
const Row = Schema.Struct({ conversation_id: Schema.NullOr(Schema.String), claimed_at: Millis })
const decodeRows = Schema.decodeUnknown(Schema.Array(Row))

const makeSql = (kind: "sqlite" | "postgres") =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* Effect.mapError(migrate, (error) => storeError(kind, "Unavailable", error))

    const unavailable = (error: SqlError | { readonly message: string }) => storeError(kind, "Unavailable", error)

    /**
     * The caller holds the chat's claim: create and record, or give the claim back, also when interrupted (a user's
     * Stop): a claim left behind would hold the chat's next message for the whole lease.
     */
    const owned = <E>(agentId: string, chatId: string, create: Effect.Effect<string, E>) =>
      create.pipe(
        Effect.tap((conversationId) =>
          Effect.mapError(
            sql`UPDATE chat_conversations SET conversation_id = ${conversationId}
              WHERE agent_id = ${agentId} AND chat_id = ${chatId}`,
            unavailable
          )
        ),
        Effect.onExit((exit) =>
          Exit.isSuccess(exit) ? Effect.void : Effect.ignore(sql`DELETE FROM chat_conversations
            WHERE agent_id = ${agentId} AND chat_id = ${chatId} AND conversation_id IS NULL`)
        )
      )

    const getOrCreate = <E>(agentId: string, chatId: string, create: Effect.Effect<string, E>) => {
      const find = sql`SELECT conversation_id, claimed_at FROM chat_conversations
        WHERE agent_id = ${agentId} AND chat_id = ${chatId}`.pipe(Effect.flatMap(decodeRows))
      const claim = (now: number) =>
        sql`INSERT INTO chat_conversations (agent_id, chat_id, conversation_id, claimed_at, created_at)
          VALUES (${agentId}, ${chatId}, NULL, ${now}, ${now})
          ON CONFLICT (agent_id, chat_id) DO NOTHING RETURNING agent_id`.pipe(Effect.map((rows) => rows.length === 1))
      const takeOver = (expired: number, now: number) =>
        sql`UPDATE chat_conversations SET claimed_at = ${now}
          WHERE agent_id = ${agentId} AND chat_id = ${chatId} AND conversation_id IS NULL AND claimed_at = ${expired}
          RETURNING agent_id`.pipe(Effect.map((rows) => rows.length === 1))

      type Step = { readonly _tag: "Done"; readonly id: string } | { readonly _tag: "Own" } | { readonly _tag: "Wait" }
      const step: Effect.Effect<Step, StoreError> = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const rows = yield* find
        const row = rows[0]
        if (row === undefined) return (yield* claim(now)) ? { _tag: "Own" } as const : { _tag: "Wait" } as const
        if (row.conversation_id !== null) return { _tag: "Done", id: row.conversation_id } as const
        if (now - row.claimed_at > Duration.toMillis(claimLease) && (yield* takeOver(row.claimed_at, now))) {
          return { _tag: "Own" } as const
        }
        return { _tag: "Wait" } as const
      }).pipe(Effect.mapError(unavailable))

      return step.pipe(
        Effect.tap((s) => (s._tag === "Wait" ? Effect.sleep("50 millis") : Effect.void)),
        Effect.repeat({ until: (s) => s._tag !== "Wait" }),
        Effect.timeoutFail({
          duration: settleWait,
          onTimeout: () =>
            storeError(kind, "Timeout", { message: `the conversation of chat ${chatId} was never recorded by its claimant` })
        }),
        Effect.flatMap((s): Effect.Effect<string, E | StoreError> =>
          s._tag === "Done" ? Effect.succeed(s.id) : owned(agentId, chatId, create)
        )
      )
    }

    const replace = <E>(agentId: string, chatId: string, stale: string, create: Effect.Effect<string, E>) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        // the caller that turns the stale row back into a claim creates the replacement; any other waits for it
        const claimed = yield* sql`UPDATE chat_conversations SET conversation_id = NULL, claimed_at = ${now}
          WHERE agent_id = ${agentId} AND chat_id = ${chatId} AND conversation_id = ${stale}
          RETURNING agent_id`.pipe(Effect.map((rows) => rows.length === 1), Effect.mapError(unavailable))
        return yield* (claimed ? owned(agentId, chatId, create) : getOrCreate(agentId, chatId, create))
      })
    return ConversationStore.of({ kind, getOrCreate, replace })
  })

const storeError = (kind: string, reason: "Unavailable" | "Timeout", error: { readonly message: string }) =>
  new StoreError({ reason, store: kind, detail: error.message })

/**
 * SQLite in a file (created with its folder): the embedded default, one process.
 *
 * @category layers
 */
export const layerSqlite = (filename: string): Layer.Layer<ConversationStore, StoreError | ConfigError.ConfigError> =>
  Layer.effect(ConversationStore, makeSql("sqlite")).pipe(
    Layer.provide(Layer.unwrapEffect(Effect.sync(() => {
      if (filename !== ":memory:") mkdirSync(path.dirname(filename), { recursive: true })
      return SqliteClient.layer({ filename })
    })))
  )

/**
 * PostgreSQL: shared by any number of replicas.
 *
 * @category layers
 */
export const layerPostgres = (url: Redacted.Redacted): Layer.Layer<ConversationStore, StoreError> =>
  Layer.effect(ConversationStore, makeSql("postgres")).pipe(
    Layer.provide(PgClient.layer({ url, connectTimeout: Duration.seconds(5), maxConnections: 10 })),
    Layer.mapError((error) =>
      error._tag === "StoreError"
        ? error
        : new StoreError({
          reason: "Unavailable",
          store: "postgres",
          // host and port only: the URL may hold a password
          detail: `cannot use the database at ${hostOf(url)}: ${error.message}`
        })
    )
  )

const hostOf = (url: Redacted.Redacted): string => {
  try {
    const parsed = new URL(Redacted.value(url))
    return `${parsed.hostname}:${parsed.port === "" ? "5432" : parsed.port}`
  } catch {
    return "DATABASE_URL (not a valid URL)"
  }
}

/** @category models */
export type Kind = "memory" | "sqlite" | "postgres"

/**
 * `PIPELINE_STORE` (`memory`, `sqlite`, `postgres`; default `postgres` when `DATABASE_URL` is set, else `sqlite`),
 * `DATABASE_URL`, and `PIPELINE_DATA_DIR` (default `./data`) for the SQLite file; an empty variable counts as unset.
 *
 * @category constructors
 */
export const config = EnvConfig.load(Config.all({
  kind: Config.option(Config.literal("memory", "sqlite", "postgres")("PIPELINE_STORE")),
  databaseUrl: Config.option(Config.redacted("DATABASE_URL")),
  dataDir: Config.string("PIPELINE_DATA_DIR").pipe(Config.withDefault("data"))
}))

/** @category layers */
export const layerConfig: Layer.Layer<ConversationStore, StoreError | ConfigError.ConfigError> = Layer
  .unwrapEffect(
    Effect.map(config, ({ databaseUrl, dataDir, kind }) => {
      const chosen: Kind = Option.getOrElse(kind, () => (Option.isSome(databaseUrl) ? "postgres" : "sqlite"))
      switch (chosen) {
        case "memory":
          return layerMemory
        case "sqlite":
          return layerSqlite(path.resolve(dataDir, "letta-pipeline.db"))
        case "postgres":
          return Option.match(databaseUrl, {
            onNone: () =>
              Layer.fail(new StoreError({ reason: "Unavailable", store: "postgres", detail: "set DATABASE_URL" })),
            onSome: layerPostgres
          })
      }
    })
  )
