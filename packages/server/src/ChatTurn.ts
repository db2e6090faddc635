/**
 * A chat request as a pipeline turn, for every surface (OpenAI chat completions, `/v1/pipe`, `/v1/ws`): the model
 * resolved to an agent, the Open WebUI chat mapped to its Letta conversation (never for background tasks), the task
 * and the token valve passed on, and the turn's events.
 *
 * Its methods close over the services they use, taken once when the layer is built, and require nothing: a route
 * calls them within its request, whose Scope alone bounds the turn. (Providing the route layer's own context
 * instead would bring the layer's Scope with it, which outlives every request: a turn's upstream stream opened in it
 * would go on after its client left.)
 *
 * @since 0.1.0
 */
import { LettaClient, LettaConfig, LettaError, OpenWebUITask, type PipeRequest, StreamEvent, StreamStage } from "@letta-pipeline/core"
import { Context, Effect, Layer, Option, Stream } from "effect"
import * as ApiErrors from "./ApiError.js"
import * as ChatThreads from "./ChatThreads.js"
import * as ChatUser from "./ChatUser.js"
import * as Models from "./Models.js"
import type * as OpenAi from "./OpenAi.js"
import * as ServerConfig from "./ServerConfig.js"
import * as Telemetry from "./Telemetry.js"
import * as UserAgents from "./UserAgents.js"
import * as Valves from "./Valves.js"

/** The longest id (model, chat id, conversation id, task name) a request may carry, in characters. @category constants */
export const maxIdChars = 256

/**
 * What a surface's request says about its turn (OpenAI's chat request, `/v1/pipe`'s body, a WebSocket `turn`).
 *
 * @category models
 */
export type Input = Pick<OpenAi.ChatCompletionRequest, "messages" | "chat_id" | "task"> & {
  readonly model?: string | undefined
  readonly conversation_id?: string | undefined
  readonly user_message?: string | undefined
}

/**
 * A turn ready to run: the pipeline's request, the chat whose conversation the map chose (a conversation Letta lost
 * is then replaced, see `ChatThreads.pipe`), and the valves it was prepared with.
 *
 * @category models
 */
export interface Turn {
  readonly request: PipeRequest.PipeRequest
  readonly chat: ChatThreads.Chat | undefined
  readonly valves: Valves.Valves
  /** For a `per-user` model: the template and the user whose own agent answers. */
  readonly owner: Owner | undefined
}

/** Whose own agent a turn goes to. @category models */
export interface Owner {
  readonly templateId: string
  readonly userId: string
  /** The user's own agent, which answers. */
  readonly agentId: string
  /** The request prepared again: after the user's agent was found gone, it makes a new one. */
  readonly again: Effect.Effect<Turn, LettaError.PipelineError | LettaError.StoreError | ApiErrors.UserRefused | ApiErrors.UserRequired>
}

/** What the user reads, once, when their own agent was gone from Letta. @category constants */
export const lostAgentNotice = StreamEvent.message(
  "notice-agent-replaced",
  "[Your own agent no longer exists in Letta, so this message starts a new one, made from the model's template agent. " +
    "It does not remember your earlier chats.]"
)

/** @category models */
export interface Service {
  /**
   * The turn of a request. `body` is the whole request body (hooks and task detection read it), `headers` the HTTP
   * request's (Open WebUI's `X-OpenWebUI-Task` and `X-OpenWebUI-Chat-Id` win over the body's fields).
   *
   * For a `per-user` model (`UserAgents`), the turn goes to the request's user's own agent (`ChatUser.fromRequest`).
   *
   * Fails with `LettaError` `InvalidRequest` for an id longer than {@link maxIdChars} or no agent chosen (no model,
   * no `LETTA_AGENT_ID`), `InvalidId` / `NotFound` for a model that is not an agent offered here or a conversation
   * not the agent's, `UserRefused` / `UserRequired` for a `per-user` model without a user it can trust, and with
   * Letta's or the store's failures while the user's agent or the chat's conversation is found or created.
   */
  readonly prepare: (
    input: Input,
    body: Readonly<Record<string, unknown>>,
    headers: Readonly<Record<string, string | undefined>>
  ) => Effect.Effect<Turn, LettaError.PipelineError | LettaError.StoreError | ApiErrors.UserRefused | ApiErrors.UserRequired>
  /** The turn's events, from Letta as it answers (`ChatThreads.pipe`). */
  readonly events: (turn: Turn) => Stream.Stream<StreamEvent.StreamEvent, LettaError.PipelineError | LettaError.StoreError>
}

/** @category services */
export class ChatTurn extends Context.Tag("@letta-pipeline/server/ChatTurn")<ChatTurn, Service>() {
  /** @category layers */
  static readonly layer: Layer.Layer<
    ChatTurn,
    never,
    | Models.Models
    | ChatThreads.ChatThreads
    | Valves.ValvesStore
    | LettaConfig.LettaConfig
    | ServerConfig.ServerConfig
    | UserAgents.UserAgents
    | LettaClient.LettaClient
  > = Layer.effect(
    ChatTurn,
    Effect.gen(function*() {
      const models = yield* Models.Models
      const threads = yield* ChatThreads.ChatThreads
      const valvesStore = yield* Valves.ValvesStore
      const letta = yield* LettaConfig.LettaConfig
      const settings = yield* ServerConfig.ServerConfig
      const userAgents = yield* UserAgents.UserAgents
      const client = yield* LettaClient.LettaClient

      /** The agent that answers: the model's own, or, for a `per-user` model, the user's copy of it. */
      const answering = Effect.fnUntraced(function*(
        model: string,
        templateId: string,
        body: Readonly<Record<string, unknown>>,
        headers: Readonly<Record<string, string | undefined>>,
        again: Owner["again"]
      ) {
        const named = model.startsWith(`${settings.pipelineId}.`) ? model.slice(settings.pipelineId.length + 1) : model
        if (!(yield* userAgents.isPerUser(named, templateId))) return { agentId: templateId, owner: undefined }
        const user = yield* ChatUser.fromRequest(settings.userJwtSecret, headers, body)
        if (Option.isNone(user)) {
          return yield* new ApiErrors.UserRequired({ model, signedOnly: Option.isSome(settings.userJwtSecret) })
        }
        const agentId = yield* userAgents.agentFor(templateId, user.value)
        return { agentId, owner: { templateId, userId: user.value.id, agentId, again } }
      }, Telemetry.span("ChatTurn.answering"))

      const prepare: Service["prepare"] = Effect.fnUntraced(function*(
        input: Input,
        body: Readonly<Record<string, unknown>>,
        headers: Readonly<Record<string, string | undefined>>
      ) {
        const valves = yield* valvesStore.get
        const task = headers["x-openwebui-task"] ?? input.task
        const chatId = headers["x-openwebui-chat-id"] ?? input.chat_id ?? OpenWebUITask.metadataField(body, "chat_id")
        // ids are stored (the chat map) and forwarded (a conversation's summary, URLs): none may be of any size
        for (const [name, value] of [["model", input.model], ["chat id", chatId], ["conversation_id", input.conversation_id], ["task", task]] as const) {
          if (value !== undefined && value.length > maxIdChars) {
            return yield* new LettaError.LettaError({
              reason: "InvalidRequest",
              detail: `the ${name} is ${value.length} characters long; at most ${maxIdChars} are accepted`
            })
          }
        }
        const model = input.model ?? Option.getOrUndefined(letta.agentId)
        if (model === undefined) {
          return yield* new LettaError.LettaError({
            reason: "InvalidRequest",
            detail: "no agent chosen: pass an agent id or name as the model, or set LETTA_AGENT_ID"
          })
        }
        const { agentId, owner } = yield* Effect.flatMap(models.resolve(model), (templateId) =>
          answering(model, templateId, body, headers, Effect.suspend(() => prepare(input, body, headers))))
        yield* LettaClient.checkAgentId(agentId)
        if (input.conversation_id !== undefined && input.conversation_id !== "default") {
          yield* models.checkConversation(agentId, input.conversation_id)
        }
        const draft: PipeRequest.PipeRequest = {
          model: agentId,
          userMessage: input.user_message,
          messages: input.messages,
          body,
          task: task === "" ? undefined : task,
          streamTokens: valves.stream_tokens
        }
        const isTask = Option.isSome(OpenWebUITask.detect(draft))
        if (input.conversation_id !== undefined || isTask) {
          return { request: { ...draft, conversationId: input.conversation_id }, chat: undefined, valves, owner } satisfies Turn
        }
        const conversation = yield* threads.conversationFor(agentId, chatId)
        return {
          request: { ...draft, conversationId: Option.getOrUndefined(conversation) },
          chat: chatId === undefined || ChatThreads.isStateless(chatId) ? undefined : { agentId, chatId },
          valves,
          owner
        } satisfies Turn
      }, Telemetry.span("ChatTurn.prepare"))

      const isNotFound = UserAgents.isNotFound

      // a user's agent deleted in Letta since this process last checked it: when Letta says so before the turn began,
      // the user gets a new agent, a notice that says so, and the turn in it
      const events = (turn: Turn): Stream.Stream<StreamEvent.StreamEvent, LettaError.PipelineError | LettaError.StoreError> => {
        const owner = turn.owner
        const stream = threads.pipe(turn.request, turn.chat)
        if (owner === undefined) return stream
        return stream.pipe(StreamStage.recoverBeforeFirst((error) =>
          !isNotFound(error) ? Stream.fail(error) : StreamStage.unwrap(Effect.gen(function*() {
            yield* userAgents.forget(owner.agentId)
            const gone = yield* client.getAgent(owner.agentId).pipe(
              Effect.as(false),
              Effect.catchIf(isNotFound, () => Effect.succeed(true))
            )
            if (!gone) return Stream.fail(error)
            const fresh = yield* Effect.catchAll(owner.again, (failure) =>
              failure._tag === "UserRefused" || failure._tag === "UserRequired" ? Effect.fail(error) : Effect.fail(failure))
            return Stream.concat(Stream.succeed(lostAgentNotice), threads.pipe(fresh.request, fresh.chat))
          }))
        ))
      }

      return ChatTurn.of({ prepare, events })
    })
  )
}
