/**
 * Which Letta conversation belongs to which chat (per agent), kept where it survives restarts and is shared by
 * replicas: in memory (tests), SQLite (the embedded default), PostgreSQL (several replicas). The layers provide
 * `UserAgentStore` (which agent is whose, for per-user models) too, in the same database.
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
import * as UserAgentStore from "./UserAgentStore.js"

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

/** A row of a claim map: its key (`outer`, `inner`) and value, null while claimed. */
interface ClaimRow {
  readonly outer: string
  readonly inner: string
  readonly value: string | null
  readonly createdAt: number
}

/** A map whose values are created once per key, across replicas (the chats' conversations, the users' agents). */
interface Claims {
  readonly getOrCreate: <E>(outer: string, inner: string, create: Effect.Effect<string, E>) => Effect.Effect<string, E | StoreError>
  readonly replace: <E>(
    outer: string,
    inner: string,
    stale: string,
    create: Effect.Effect<string, E>
  ) => Effect.Effect<string, E | StoreError>
  readonly list: Effect.Effect<ReadonlyArray<ClaimRow>, StoreError>
}

/** Both services over their claim maps. */
const services = (kind: Kind, chats: Claims, users: Claims) =>
  Context.make(ConversationStore, ConversationStore.of({ kind, getOrCreate: chats.getOrCreate, replace: chats.replace })).pipe(
    Context.add(
      UserAgentStore.UserAgentStore,
      UserAgentStore.UserAgentStore.of({
        kind,
        getOrCreate: users.getOrCreate,
        replace: users.replace,
        list: Effect.map(users.list, (rows) =>
          rows.map((row) => ({ templateId: row.outer, userId: row.inner, agentId: row.value, createdAt: row.createdAt })))
      })
    )
  )

/** How long a claim may stay without its conversation before another replica takes it over. */
export const claimLease = Duration.seconds(30)
/** How long a caller waits for another replica's claim to settle. */
const settleWait = Duration.sum(claimLease, Duration.seconds(5))

// ---------------------------------------------------------------------------------------------------------------------
// memory
// ---------------------------------------------------------------------------------------------------------------------

/**
 * In memory: gone at exit, not shared. Concurrent first messages of one chat (or user) share one creation.
 *
 * @category layers
 */
export const layerMemory: Layer.Layer<ConversationStore | UserAgentStore.UserAgentStore> = Layer.effectContext(
  Effect.gen(function*() {
    return services("memory", yield* memoryClaims, yield* memoryClaims)
  })
)

/** A claim map in memory: concurrent first calls for one key share one creation. */
const memoryClaims = Effect.gen(function*() {
  // an entry settles with its value, or fails (void) when its creator's `create` failed
  type Entry = { readonly outer: string; readonly inner: string; readonly createdAt: number; readonly value: Deferred.Deferred<string, void> }
  const entries = yield* SynchronizedRef.make(HashMap.empty<string, Entry>())
  const keyOf = (outer: string, inner: string) => `${outer}\u0000${inner}`

  /** The entry to wait for, or a fresh one this caller owns; `takeOver` says whether an existing entry is stale. */
  const claim = (outer: string, inner: string, takeOver: (existing: Entry) => Effect.Effect<boolean>) =>
    Effect.gen(function*() {
      const fresh: Entry = { outer, inner, createdAt: yield* Clock.currentTimeMillis, value: yield* Deferred.make<string, void>() }
      const key = keyOf(outer, inner)
      return yield* SynchronizedRef.modifyEffect(
        entries,
        (map): Effect.Effect<readonly [readonly [Entry, boolean], HashMap.HashMap<string, Entry>]> =>
          Option.match(HashMap.get(map, key), {
            onNone: () => Effect.succeed([[fresh, true], HashMap.set(map, key, fresh)] as const),
            onSome: (existing) =>
              Effect.map(takeOver(existing), (stale) =>
                stale ? [[fresh, true], HashMap.set(map, key, fresh)] as const : [[existing, false], map] as const)
          })
      )
    })

  // a creator that fails or is interrupted (a user's Stop) gives its entry back: the waiters and the next call try
  // again, where an entry left unsettled would keep the key waiting for good
  const settle = <E>(entry: Entry, create: Effect.Effect<string, E>) =>
    create.pipe(Effect.onExit(Exit.match({
      onSuccess: (id) => Deferred.succeed(entry.value, id),
      onFailure: () =>
        Effect.zipRight(
          SynchronizedRef.update(entries, (map) => {
            const key = keyOf(entry.outer, entry.inner)
            return Option.exists(HashMap.get(map, key), (current) => current === entry) ? HashMap.remove(map, key) : map
          }),
          Deferred.fail(entry.value, undefined)
        )
    })))

  const getOrCreate = <E>(outer: string, inner: string, create: Effect.Effect<string, E>): Effect.Effect<string, E> =>
    Effect.gen(function*() {
      const [entry, owner] = yield* claim(outer, inner, () => Effect.succeed(false))
      // a waiter whose creator failed tries again (and may become the creator)
      if (!owner) return yield* Effect.catchAll(Deferred.await(entry.value), () => getOrCreate(outer, inner, create))
      return yield* settle(entry, create)
    })

  const replace = <E>(outer: string, inner: string, stale: string, create: Effect.Effect<string, E>) =>
    Effect.gen(function*() {
      // an entry settled with the stale value is taken over; one still being created, or already replaced, is waited for
      const [entry, owner] = yield* claim(outer, inner, (existing) =>
        Effect.flatMap(Deferred.poll(existing.value), Option.match({
          onNone: () => Effect.succeed(false),
          onSome: (settled) => Effect.map(Effect.exit(settled), (exit) => Exit.isFailure(exit) || exit.value === stale)
        })))
      if (!owner) return yield* Effect.catchAll(Deferred.await(entry.value), () => getOrCreate(outer, inner, create))
      return yield* settle(entry, create)
    })

  const list = Effect.gen(function*() {
    const rows: Array<ClaimRow> = []
    for (const entry of HashMap.values(yield* SynchronizedRef.get(entries))) {
      const settled = yield* Deferred.poll(entry.value)
      if (Option.isNone(settled)) {
        rows.push({ outer: entry.outer, inner: entry.inner, value: null, createdAt: entry.createdAt })
        continue
      }
      // a failed creation is no entry
      const value = yield* Effect.option(settled.value)
      if (Option.isSome(value)) rows.push({ outer: entry.outer, inner: entry.inner, value: value.value, createdAt: entry.createdAt })
    }
    return rows
  })

  return { getOrCreate, replace, list } satisfies Claims
})

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
    )`),
  "0002_user_agents": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE IF NOT EXISTS user_agents (
      template_id TEXT NOT NULL,
      user_id TEXT NOT NULL,
      agent_id TEXT,
      claimed_at BIGINT NOT NULL,
      created_at BIGINT NOT NULL,
      PRIMARY KEY (template_id, user_id)
    )`)
})

/** Runs the migrations; replicas starting together may collide on the first one, so it is retried briefly. */
const migrate = Migrator.make({})({ loader: migrations, table: "letta_pipeline_migrations" }).pipe(
  Effect.retry({ times: 5, schedule: Schedule.spaced("200 millis") })
)

/** PostgreSQL returns BIGINT as text. */
const Millis = Schema.Union(Schema.Number, Schema.NumberFromString)
const Row = Schema.Struct({ value: Schema.NullOr(Schema.String), claimed_at: Millis })
const decodeRows = Schema.decodeUnknown(Schema.Array(Row))
const ListedRow = Schema.Struct({ key_outer: Schema.String, key_inner: Schema.String, value: Schema.NullOr(Schema.String), created_at: Millis })
const decodeListed = Schema.decodeUnknown(Schema.Array(ListedRow))

/** A table of claims: `outer` and `inner` are its key, `value` what a claim settles with (NULL while claimed). */
interface Table {
  readonly name: string
  readonly outer: string
  readonly inner: string
  readonly value: string
  /** what one value is, for errors */
  readonly what: string
}

const chatTable: Table = { name: "chat_conversations", outer: "agent_id", inner: "chat_id", value: "conversation_id", what: "conversation of chat" }
const userTable: Table = { name: "user_agents", outer: "template_id", inner: "user_id", value: "agent_id", what: "agent of user" }

/**
 * A claim map in a table: a caller first claims the key's row (insert, unique key), creates the value, then records
 * it; any other caller waits for the record. A claim whose owner died is taken over after {@link claimLease}.
 */
const sqlClaims = (sql: SqlClient.SqlClient, kind: "sqlite" | "postgres", table: Table): Claims => {
  const unavailable = (error: SqlError | { readonly message: string }) => storeError(kind, "Unavailable", error)
  const [name, outerColumn, innerColumn, valueColumn] = [sql(table.name), sql(table.outer), sql(table.inner), sql(table.value)]

  /**
   * The caller holds the key's claim: create and record, or give the claim back, also when interrupted (a user's
   * Stop): a claim left behind would hold the key's next caller for the whole lease.
   */
  const owned = <E>(outer: string, inner: string, create: Effect.Effect<string, E>) =>
    create.pipe(
      Effect.tap((value) =>
        Effect.mapError(
          sql`UPDATE ${name} SET ${valueColumn} = ${value} WHERE ${outerColumn} = ${outer} AND ${innerColumn} = ${inner}`,
          unavailable
        )
      ),
      Effect.onExit((exit) =>
        Exit.isSuccess(exit) ? Effect.void : Effect.ignore(sql`DELETE FROM ${name}
          WHERE ${outerColumn} = ${outer} AND ${innerColumn} = ${inner} AND ${valueColumn} IS NULL`)
      )
    )

  const getOrCreate = <E>(outer: string, inner: string, create: Effect.Effect<string, E>) => {
    const find = sql`SELECT ${valueColumn} AS value, claimed_at FROM ${name}
      WHERE ${outerColumn} = ${outer} AND ${innerColumn} = ${inner}`.pipe(Effect.flatMap(decodeRows))
    const claim = (now: number) =>
      sql`INSERT INTO ${name} (${outerColumn}, ${innerColumn}, ${valueColumn}, claimed_at, created_at)
        VALUES (${outer}, ${inner}, NULL, ${now}, ${now})
        ON CONFLICT (${outerColumn}, ${innerColumn}) DO NOTHING RETURNING ${outerColumn}`.pipe(Effect.map((rows) => rows.length === 1))
    const takeOver = (expired: number, now: number) =>
      sql`UPDATE ${name} SET claimed_at = ${now}
        WHERE ${outerColumn} = ${outer} AND ${innerColumn} = ${inner} AND ${valueColumn} IS NULL AND claimed_at = ${expired}
        RETURNING ${outerColumn}`.pipe(Effect.map((rows) => rows.length === 1))

    type Step = { readonly _tag: "Done"; readonly id: string } | { readonly _tag: "Own" } | { readonly _tag: "Wait" }
    const step: Effect.Effect<Step, StoreError> = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* find
      const row = rows[0]
      if (row === undefined) return (yield* claim(now)) ? { _tag: "Own" } as const : { _tag: "Wait" } as const
      if (row.value !== null) return { _tag: "Done", id: row.value } as const
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
        onTimeout: () => storeError(kind, "Timeout", { message: `the ${table.what} ${inner} was never recorded by its claimant` })
      }),
      Effect.flatMap((s): Effect.Effect<string, E | StoreError> =>
        s._tag === "Done" ? Effect.succeed(s.id) : owned(outer, inner, create)
      )
    )
  }

  const replace = <E>(outer: string, inner: string, stale: string, create: Effect.Effect<string, E>) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      // the caller that turns the stale row back into a claim creates the replacement; any other waits for it
      const claimed = yield* sql`UPDATE ${name} SET ${valueColumn} = NULL, claimed_at = ${now}
        WHERE ${outerColumn} = ${outer} AND ${innerColumn} = ${inner} AND ${valueColumn} = ${stale}
        RETURNING ${outerColumn}`.pipe(Effect.map((rows) => rows.length === 1), Effect.mapError(unavailable))
      return yield* (claimed ? owned(outer, inner, create) : getOrCreate(outer, inner, create))
    })

  const list = sql`SELECT ${outerColumn} AS key_outer, ${innerColumn} AS key_inner, ${valueColumn} AS value, created_at
    FROM ${name} ORDER BY created_at`.pipe(
    Effect.flatMap(decodeListed),
    Effect.map((rows) => rows.map((row) => ({ outer: row.key_outer, inner: row.key_inner, value: row.value, createdAt: row.created_at }))),
    Effect.mapError(unavailable)
  )

  return { getOrCreate, replace, list }
}

const makeSql = (kind: "sqlite" | "postgres") =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* Effect.mapError(migrate, (error) => storeError(kind, "Unavailable", error))
    return services(kind, sqlClaims(sql, kind, chatTable), sqlClaims(sql, kind, userTable))
  })

const storeError = (kind: string, reason: "Unavailable" | "Timeout", error: { readonly message: string }) =>
  new StoreError({ reason, store: kind, detail: error.message })

/**
 * SQLite in a file (created with its folder): the embedded default, one process.
 *
 * @category layers
 */
export const layerSqlite = (
  filename: string
): Layer.Layer<ConversationStore | UserAgentStore.UserAgentStore, StoreError | ConfigError.ConfigError> =>
  Layer.effectContext(makeSql("sqlite")).pipe(
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
export const layerPostgres = (
  url: Redacted.Redacted
): Layer.Layer<ConversationStore | UserAgentStore.UserAgentStore, StoreError> =>
  Layer.effectContext(makeSql("postgres")).pipe(
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
export const layerConfig: Layer.Layer<
  ConversationStore | UserAgentStore.UserAgentStore,
  StoreError | ConfigError.ConfigError
> = Layer
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
