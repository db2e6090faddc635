/**
 * One Letta conversation per Open WebUI chat and agent, so two chats with one agent never share a thread. The map is
 * core's `ConversationStore` (memory, SQLite or PostgreSQL), so it survives restarts and is shared by replicas.
 *
 * @since 0.1.0
 */
import { ConversationStore, LettaClient, type LettaError } from "@letta-pipeline/core"
import { Context, Effect, Layer, Option } from "effect"
import * as ServerConfig from "./ServerConfig.js"

/** @category models */
export interface Service {
  /**
   * The conversation of this chat with this agent, created on the chat's first message. Requests without a chat id and
   * Open WebUI's temporary chats (`local:…`) get None (the agent's own thread) or a fresh conversation, by
   * `PIPELINE_STATELESS_CHATS`.
   */
  readonly conversationFor: (
    agentId: string,
    chatId: string | undefined
  ) => Effect.Effect<Option.Option<string>, LettaError.PipelineError | LettaError.StoreError>
}

/** @category services */
export class ChatThreads extends Context.Tag("@letta-pipeline/server/ChatThreads")<ChatThreads, Service>() {}

/** Chats without a thread of their own. @category constructors */
export const isStateless = (chatId: string | undefined): chatId is undefined =>
  chatId === undefined || chatId.trim() === "" || chatId.startsWith("local:")

/** @category layers */
export const layer: Layer.Layer<
  ChatThreads,
  never,
  LettaClient.LettaClient | ConversationStore.ConversationStore | ServerConfig.ServerConfig
> = Layer.effect(
  ChatThreads,
  Effect.gen(function*() {
    const client = yield* LettaClient.LettaClient
    const store = yield* ConversationStore.ConversationStore
    const settings = yield* ServerConfig.ServerConfig
    const create = (agentId: string, summary: string) =>
      Effect.map(client.createConversation(agentId, { summary }), (conversation) => conversation.id)
    return ChatThreads.of({
      conversationFor: (agentId, chatId) =>
        isStateless(chatId)
          ? settings.statelessChats === "fresh"
            ? Effect.map(create(agentId, "one-off request"), Option.some)
            : Effect.succeed(Option.none())
          : Effect.map(store.getOrCreate(agentId, chatId, create(agentId, `Open WebUI chat ${chatId}`)), Option.some)
    })
  })
)
