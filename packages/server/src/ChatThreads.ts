/**
 * One Letta conversation per Open WebUI chat and agent, so two chats with one agent never share a thread. In memory
 * here (durable stores come with the store issue); creation is race-free: concurrent first messages of one chat end
 * up in one conversation.
 *
 * @since 0.1.0
 */
import { LettaClient, type LettaError } from "@letta-pipeline/core"
import { Context, Effect, HashMap, Layer, Option, SynchronizedRef } from "effect"

/** @category models */
export interface Service {
  /**
   * The conversation of this chat with this agent, created on the chat's first message. None for requests without a
   * chat id and for Open WebUI's temporary chats (`local:…`): they use the agent's default thread.
   */
  readonly conversationFor: (
    agentId: string,
    chatId: string | undefined
  ) => Effect.Effect<Option.Option<string>, LettaError.PipelineError>
}

/** @category services */
export class ChatThreads extends Context.Tag("@letta-pipeline/server/ChatThreads")<ChatThreads, Service>() {}

/** Chats without a thread of their own. @category constructors */
export const isStateless = (chatId: string | undefined): chatId is undefined =>
  chatId === undefined || chatId.trim() === "" || chatId.startsWith("local:")

/** @category layers */
export const layerMemory: Layer.Layer<ChatThreads, never, LettaClient.LettaClient> = Layer.effect(
  ChatThreads,
  Effect.gen(function*() {
    const client = yield* LettaClient.LettaClient
    const threads = yield* SynchronizedRef.make(HashMap.empty<string, string>())
    return ChatThreads.of({
      conversationFor: (agentId, chatId) => {
        if (isStateless(chatId)) return Effect.succeed(Option.none())
        const key = `${agentId}\u0000${chatId}`
        return SynchronizedRef.modifyEffect(threads, (map) =>
          Option.match(HashMap.get(map, key), {
            onSome: (id) => Effect.succeed([id, map] as const),
            onNone: () =>
              Effect.map(
                client.createConversation(agentId, { summary: `Open WebUI chat ${chatId}` }),
                (conversation) => [conversation.id, HashMap.set(map, key, conversation.id)] as const
              )
          })).pipe(Effect.map(Option.some))
      }
    })
  })
)
