/**
 * Which Letta agent is whose, for models in `per-user` mode: one agent per (template agent, user), created from the
 * template on the user's first message. Kept next to the chat map (`ConversationStore`'s layers provide both, in one
 * database): in memory, SQLite or PostgreSQL, so a restart keeps everyone's agent and replicas share the map.
 *
 * A user's first message creates their agent exactly once, even when two replicas receive the first two messages at
 * once: the same claim as a chat's conversation (insert a claim row, unique key; create; record).
 *
 * @since 0.1.0
 */
import type { StoreError } from "@letta-pipeline/core/LettaError"
import { Context, type Effect } from "effect"

/** One user's agent of one template, as the map holds it. @category models */
export interface Entry {
  readonly templateId: string
  readonly userId: string
  /** null while its creation is under way */
  readonly agentId: string | null
  /** When the user's agent was first claimed, in milliseconds since the epoch. */
  readonly createdAt: number
}

/** @category models */
export interface Service {
  /** Which backend keeps the map, for logs and errors. */
  readonly kind: "memory" | "sqlite" | "postgres"
  /** The user's agent of this template; `create` makes it on the user's first message, once across replicas. */
  readonly getOrCreate: <E>(
    templateId: string,
    userId: string,
    create: Effect.Effect<string, E>
  ) => Effect.Effect<string, E | StoreError>
  /**
   * Replaces the user's agent `stale` (gone from Letta, or reset) with one `create` makes, once across replicas: a
   * caller that finds it already replaced gets the replacement.
   */
  readonly replace: <E>(
    templateId: string,
    userId: string,
    stale: string,
    create: Effect.Effect<string, E>
  ) => Effect.Effect<string, E | StoreError>
  /** Every entry, oldest first. */
  readonly list: Effect.Effect<ReadonlyArray<Entry>, StoreError>
}

/** @category services */
export class UserAgentStore extends Context.Tag("@letta-pipeline/server/UserAgentStore")<UserAgentStore, Service>() {}
