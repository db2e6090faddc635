/**
 * One Letta conversation per Open WebUI chat and agent, so two chats with one agent never share a thread. The map is
 * `ConversationStore` (memory, SQLite or PostgreSQL), so it survives restarts and is shared by replicas.
 *
 * A chat whose conversation is gone from Letta (deleted, or Letta's data restored) is told so once, and continues in a
 * new conversation that replaces the old one in the map.
 *
 * @since 0.1.0
 */
import { LettaClient, LettaError, Pipeline, type PipeRequest, StreamEvent, StreamStage } from "@letta-pipeline/core"
import { Context, Effect, Layer, Option, Stream } from "effect"
import * as ConversationStore from "./ConversationStore.js"
import * as ServerConfig from "./ServerConfig.js"

/** A turn of a chat whose conversation comes from the map. @category models */
export interface Chat {
  readonly agentId: string
  readonly chatId: string
}

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
  /**
   * The turn's events. When the request's conversation came from the map for `chat` and Letta says it is gone before
   * the turn began, the chat gets a new conversation (recorded in the map, once across replicas), a notice that says
   * so, and the turn in the new conversation.
   */
  readonly pipe: (
    request: PipeRequest.PipeRequest,
    chat: Chat | undefined
  ) => Stream.Stream<StreamEvent.StreamEvent, LettaError.PipelineError | LettaError.StoreError>
}

/** @category services */
export class ChatThreads extends Context.Tag("@letta-pipeline/server/ChatThreads")<ChatThreads, Service>() {}

/** Chats without a thread of their own. @category constructors */
export const isStateless = (chatId: string | undefined): chatId is undefined =>
  chatId === undefined || chatId.trim() === "" || chatId.startsWith("local:")

/** What the user reads, once, when the chat's conversation was gone. @category constructors */
export const lostThreadNotice = StreamEvent.message(
  "notice-conversation-replaced",
  "[This chat's conversation no longer exists in Letta, so this message starts a new one. The agent keeps its memory, " +
    "but not the earlier messages of this chat.]"
)

/** @category layers */
export const layer: Layer.Layer<
  ChatThreads,
  never,
  LettaClient.LettaClient | ConversationStore.ConversationStore | ServerConfig.ServerConfig | Pipeline.Pipeline
> = Layer.effect(
  ChatThreads,
  Effect.gen(function*() {
    const client = yield* LettaClient.LettaClient
    const store = yield* ConversationStore.ConversationStore
    const settings = yield* ServerConfig.ServerConfig
    const pipeline = yield* Pipeline.Pipeline
    const create = (agentId: string, summary: string) =>
      Effect.map(client.createConversation(agentId, { summary }), (conversation) => conversation.id)
    const chatSummary = (chatId: string) => `Open WebUI chat ${chatId}`

    const pipe: Service["pipe"] = (request, chat) => {
      const stale = request.conversationId
      if (chat === undefined || stale === undefined) return pipeline.pipe(request)
      return pipeline.pipe(request).pipe(StreamStage.recoverBeforeFirst((error) =>
        !LettaError.isConversationGone(error, stale)
          ? Stream.fail(error)
          : StreamStage.unwrap(
            store.replace(chat.agentId, chat.chatId, stale, create(chat.agentId, chatSummary(chat.chatId))).pipe(
              Effect.tap((fresh) =>
                Effect.logWarning(
                  `Conversation ${stale} of chat ${chat.chatId} (agent ${chat.agentId}) is gone from Letta: ` +
                    `continuing in ${fresh}`
                )
              ),
              Effect.map((fresh) =>
                Stream.concat(Stream.succeed(lostThreadNotice), pipeline.pipe({ ...request, conversationId: fresh }))
              )
            )
          )
      ))
    }

    return ChatThreads.of({
      conversationFor: (agentId, chatId) =>
        isStateless(chatId)
          ? settings.statelessChats === "fresh"
            ? Effect.map(create(agentId, "one-off request"), Option.some)
            : Effect.succeed(Option.none())
          : Effect.map(store.getOrCreate(agentId, chatId, create(agentId, chatSummary(chatId))), Option.some),
      pipe
    })
  })
)
