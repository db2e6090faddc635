/**
 * Chats in a running Open WebUI, driven as its page drives them (`open_webui/main.py` `chat_completion` of the pinned
 * release): a chat is created, each message goes to `POST /api/chat/completions` with the chat id, the new user
 * message, its assistant message id and the transcript; the stored chat is read back from `GET /api/v1/chats/{id}`.
 */
import { Duration, Effect, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import { type OpenWebUI, request } from "./openwebui.js"

/** An output item as Open WebUI stores it with an answer (0.10 and later). */
export interface OutputItem {
  readonly type: string
  readonly id?: string
  readonly call_id?: string
  readonly name?: string
  readonly arguments?: string
  readonly status?: string
  readonly output?: ReadonlyArray<{ readonly type: string; readonly text: string }>
  readonly content?: ReadonlyArray<{ readonly type: string; readonly text: string }>
}

export interface StoredMessage {
  readonly id: string
  readonly parentId: string | null
  readonly childrenIds: ReadonlyArray<string>
  readonly role: "user" | "assistant"
  readonly content: string
  readonly done?: boolean
  readonly output: ReadonlyArray<OutputItem>
  readonly usage?: { readonly total_tokens?: number; readonly prompt_tokens?: number; readonly completion_tokens?: number }
  readonly error?: { readonly content?: unknown } | null
  readonly statusHistory?: ReadonlyArray<{ readonly description: string; readonly done?: boolean }>
  readonly followUps?: ReadonlyArray<string>
}

export interface Stored {
  readonly id: string
  readonly title: string
  readonly history: { readonly messages: Readonly<Record<string, StoredMessage>>; readonly currentId: string | null }
  readonly tags?: ReadonlyArray<string>
}

/** A chat of one model. */
export interface Connected {
  readonly id: string
  readonly model: string
}

export interface Sent {
  readonly chat: Connected
  readonly userId: string
  readonly answerId: string
  readonly answer: StoredMessage
  /** What `POST /api/chat/completions` answered (the task ids when it ran in the background). */
  readonly response: unknown
}

/** The stored chat. */
export const chatOf = (webui: OpenWebUI, id: string) =>
  Effect.map(
    request<{ id: string; title: string; chat: { history: Stored["history"]; tags?: ReadonlyArray<string> } }>(
      webui.url,
      webui.token,
      "GET",
      `/api/v1/chats/${id}`
    ),
    (chat): Stored => ({ id: chat.id, title: chat.title, history: chat.chat.history, ...(chat.chat.tags ? { tags: chat.chat.tags } : {}) })
  )

/** The messages from the root to `id`, as the page sends them (role and text). */
const transcript = (stored: Stored, id: string | null) => {
  const chain: Array<{ role: string; content: string }> = []
  for (let at = id; at !== null;) {
    const message = stored.history.messages[at]
    if (message === undefined) break
    chain.unshift({ role: message.role, content: message.content })
    at = message.parentId
  }
  return chain
}

export interface SendOptions {
  readonly model: string
  /** The new user message (not with `regenerate`). */
  readonly content?: string
  /** Continue this chat (a new one is created when absent). */
  readonly chat?: Connected
  /** Answer this earlier user message again, as the page's Regenerate does. */
  readonly regenerate?: Sent
  /**
   * Run in the background as the page does (`session_id`): Open WebUI answers at once with the task ids, and the
   * stored answer is awaited (done, or an error) unless `wait` is false.
   */
  readonly sessionId?: string
  readonly wait?: boolean
  /**
   * Ask for the background tasks as the page does with its defaults (`Chat.svelte`): title and tags with a chat's first
   * message, follow-ups with every message.
   */
  readonly tasks?: boolean
}

/**
 * Sends one message and, unless it runs in the background, returns the stored answer (Open WebUI consumes the stream
 * and saves the answer before it responds).
 */
export const send = (webui: OpenWebUI, options: SendOptions) =>
  Effect.gen(function*() {
    const chat = options.chat ?? (yield* request<{ id: string }>(webui.url, webui.token, "POST", "/api/v1/chats/new", {
      chat: { title: "New Chat", models: [options.model], history: { messages: {}, currentId: null }, messages: [] }
    }).pipe(Effect.map((created): Connected => ({ id: created.id, model: options.model }))))
    const stored = yield* chatOf(webui, chat.id)
    const answerId = randomUUID()
    const regenerated = options.regenerate === undefined ? undefined : stored.history.messages[options.regenerate.userId]
    const parentId = regenerated?.parentId ?? stored.history.currentId
    const userMessage = regenerated ?? {
      id: randomUUID(),
      parentId,
      childrenIds: [],
      role: "user" as const,
      content: options.content ?? "",
      models: [options.model],
      timestamp: Math.floor(Date.now() / 1000)
    }
    const messages = [...transcript(stored, parentId), { role: "user", content: userMessage.content }]
    const response = yield* request<unknown>(webui.url, webui.token, "POST", "/api/chat/completions", {
      model: options.model,
      stream: true,
      chat_id: chat.id,
      id: answerId,
      parent_id: parentId,
      user_message: userMessage,
      messages,
      params: {},
      features: {},
      ...(options.sessionId === undefined ? {} : { session_id: options.sessionId }),
      ...(options.tasks === true
        ? {
          background_tasks: {
            ...(parentId === null ? { title_generation: true, tags_generation: true } : {}),
            follow_up_generation: true
          }
        }
        : {})
    })
    const answer = yield* (options.sessionId !== undefined && options.wait !== false
      ? answerOf(webui, chat.id, answerId, (message) => message.done === true || isError(message))
      : answerOf(webui, chat.id, answerId, () => true))
    return { chat, userId: userMessage.id, answerId, answer, response } satisfies Sent
  })

/** Whether Open WebUI stored an error with the answer. */
export const isError = (message: StoredMessage): boolean => message.error !== undefined && message.error !== null

/** The stored answer once `until` holds for it (30 s at most). */
export const answerOf = (webui: OpenWebUI, chatId: string, answerId: string, until: (message: StoredMessage) => boolean) =>
  chatOf(webui, chatId).pipe(
    Effect.flatMap((stored) => {
      const answer = stored.history.messages[answerId]
      return answer !== undefined && until(answer)
        ? Effect.succeed(answer)
        : Effect.fail(new Error(`Open WebUI's answer ${answerId} is not there yet: ${JSON.stringify(answer ?? null).slice(0, 2000)}`))
    }),
    Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo(Duration.seconds(30))))
  )
