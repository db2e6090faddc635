/**
 * The chat pipeline: one turn in, a `Stream` of {@link StreamEvent}s out. It is what the Python "Async Letta Chat
 * Pipeline" meant to be: streamed from Letta as it happens, typed, cancellable, with Open WebUI's background tasks kept
 * away from the agent and a polling mode, done right, for networks that buffer SSE.
 *
 * Lifecycle: building the layer is the seed's `on_startup`, releasing it its `on_shutdown`.
 *
 * @example
 * ```ts
 * import { ChatStream, Pipeline } from "@letta-pipeline/core"
 * import { HttpTransport } from "@letta-pipeline/core/node"
 * import { Effect, Layer } from "effect"
 *
 * // one turn, collected: its text, reasoning, tool calls, usage and stop reason
 * export const answer: Effect.Effect<string, unknown> = Effect.gen(function*() {
 *   const pipeline = yield* Pipeline.Pipeline
 *   const turn = yield* ChatStream.collect(pipeline.pipe({ messages: [{ role: "user", content: "Hi" }], body: {} }))
 *   return turn.content
 * }).pipe(Effect.provide(Pipeline.layerConfig.pipe(Layer.provide(HttpTransport.layerConfig))))
 * ```
 *
 * @example
 * ```ts
 * import { LettaClient, LettaConfig, type LettaSchema, Pipeline, PipelineHooks } from "@letta-pipeline/core"
 * import { Layer, Option, Stream } from "effect"
 *
 * // in tests: the pipeline over a fake client that answers every turn with one assistant message
 * export const PipelineTest = Pipeline.layer.pipe(
 *   Layer.provide(PipelineHooks.layerIdentity),
 *   Layer.provideMerge(LettaClient.layerTest({
 *     streamMessage: () =>
 *       Stream.succeed<LettaSchema.LettaMessage>({
 *         message_type: "assistant_message",
 *         id: "message-1",
 *         otid: "otid-1",
 *         content: "Hello!"
 *       })
 *   })),
 *   Layer.provideMerge(Layer.succeed(LettaConfig.LettaConfig, LettaConfig.make({ agentId: Option.some("agent-1") })))
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Chunk, ConfigError, Context, Effect, Layer, Option, type Scope, Stream } from "effect"
import * as ChatStream from "./ChatStream.js"
import { turnTimeout } from "./internal/timeouts.js"
import * as LettaBackend from "./LettaBackend.js"
import * as LettaClient from "./LettaClient.js"
import * as LettaConfig from "./LettaConfig.js"
import { LettaError, type PipelineError } from "./LettaError.js"
import * as LettaRuns from "./LettaRuns.js"
import type * as LettaSchema from "./LettaSchema.js"
import * as OpenWebUITask from "./OpenWebUITask.js"
import * as PipeRequest from "./PipeRequest.js"
import * as PipelineHooks from "./PipelineHooks.js"
import type * as StreamEvent from "./StreamEvent.js"
import * as StreamStage from "./StreamStage.js"

/** @category models */
export interface Service {
  /** The name shown to users (`PIPELINE_NAME`). */
  readonly name: string
  /** One turn as events. Interrupting the stream aborts the upstream Letta request. */
  readonly pipe: (request: PipeRequest.PipeRequest) => Stream.Stream<StreamEvent.StreamEvent, PipelineError>
  /** The inlet hook, applied to a request body. */
  readonly inlet: (
    body: PipelineHooks.FilterBody,
    user?: PipelineHooks.FilterUser
  ) => Effect.Effect<PipelineHooks.FilterBody, PipelineError>
  /** The outlet hook, applied to a response body. */
  readonly outlet: (
    body: PipelineHooks.FilterBody,
    user?: PipelineHooks.FilterUser
  ) => Effect.Effect<PipelineHooks.FilterBody, PipelineError>
}

/** @category services */
export class Pipeline extends Context.Tag("@letta-pipeline/core/Pipeline")<Pipeline, Service>() {}

/** Page size when polling a run's messages. */
const pollPageSize = 100

const isTerminal = (status: LettaSchema.RunStatus): boolean =>
  status === "completed" || status === "failed" || status === "cancelled"

/** A stop reason for a run that ended without one: `end_turn`, `error` or `cancelled` by its status. */
const stopReasonOf = (status: LettaSchema.RunStatus): string =>
  status === "failed" ? "error" : status === "cancelled" ? "cancelled" : "end_turn"

interface PollState {
  readonly after: string | undefined
  /** Sleep before the next poll; false right after a full page, which may have a successor. */
  readonly wait: boolean
}

/**
 * The runs poll mode needs, or the `ConfigError` that says this backend has none (the App Server's layer provides no
 * `LettaRuns`); `None` in stream mode, which needs none.
 */
const runsFor = (
  settings: LettaConfig.Settings
): Effect.Effect<Option.Option<LettaRuns.Service>, ConfigError.ConfigError> =>
  settings.mode === "stream" ? Effect.succeedNone : Effect.serviceOption(LettaRuns.LettaRuns).pipe(
    Effect.filterOrFail(Option.isSome, () =>
      ConfigError.InvalidData(
        ["LETTA_MODE"],
        `LETTA_MODE=poll needs background runs, which only the REST API has (LETTA_BACKEND=rest); ` +
          `LETTA_BACKEND=${settings.backend} offers none: use LETTA_MODE=stream`
      ))
  )

/**
 * Builds the pipeline over a `LettaClient`, its settings and the hooks. Poll mode (`LETTA_MODE=poll`) also needs
 * `LettaRuns`, which only the REST layers provide: without it, building fails with a `ConfigError` naming `LETTA_MODE`
 * and `LETTA_BACKEND`.
 *
 * @category constructors
 */
export const make: Effect.Effect<
  Service,
  ConfigError.ConfigError,
  LettaClient.LettaClient | LettaConfig.LettaConfig | PipelineHooks.PipelineHooks | Scope.Scope
> = Effect.gen(function*() {
  const client = yield* LettaClient.LettaClient
  const settings = yield* LettaConfig.LettaConfig
  const hooks = yield* PipelineHooks.PipelineHooks
  const runs = yield* runsFor(settings)

  yield* Effect.acquireRelease(
    Effect.logInfo(
      `Pipeline "${settings.name}" started: Letta at ${settings.baseUrl}, ` +
        `agent ${Option.getOrElse(settings.agentId, () => "chosen per request")}, mode ${settings.mode}, ` +
        `token streaming ${settings.streamTokens ? "on" : "off"}`
    ),
    () => Effect.logInfo(`Pipeline "${settings.name}" stopped`)
  )

  const resolveAgent = (request: PipeRequest.PipeRequest): Effect.Effect<string, LettaError> => {
    const agent = request.model ?? Option.getOrUndefined(settings.agentId)
    return agent === undefined || agent.trim() === ""
      ? Effect.fail(
        new LettaError({
          reason: "InvalidRequest",
          detail: "no agent chosen: pass an agent id as the model, or set LETTA_AGENT_ID"
        })
      )
      : LettaClient.checkAgentId(agent.trim())
  }

  const fromResponse = (response: LettaSchema.LettaResponse): ReadonlyArray<LettaSchema.LettaMessage> => [
    ...response.messages,
    response.stop_reason,
    response.usage
  ]

  /**
   * The seed's polling, done right: start a background run, then follow its status and messages. The run's end becomes
   * a `stop_reason` message, so a failed run fails by the same rule as a streamed one (`ChatStream.toEvents`).
   */
  const pollRun = (runs: LettaRuns.Service, agentId: string, messages: ReadonlyArray<LettaSchema.MessageCreate>) =>
    StreamStage.unwrap(
      Effect.map(runs.createRun(agentId, { messages }), (run) =>
        Stream.paginateChunkEffect<PollState, LettaSchema.LettaMessage, PipelineError, never>(
          { after: undefined, wait: false },
          (state) =>
            Effect.gen(function*() {
              if (state.wait) yield* Effect.sleep(settings.pollInterval)
              const current = yield* runs.getRun(run.id)
              const batch = yield* runs.listRunMessages(run.id, { after: state.after, limit: pollPageSize })
              const lastId = batch.findLast((message) => "id" in message && typeof message.id === "string")
              const after = lastId !== undefined && "id" in lastId && typeof lastId.id === "string"
                ? lastId.id
                : state.after
              const fullPage = batch.length >= pollPageSize
              if (!isTerminal(current.status) || fullPage) {
                return [batch, Option.some({ after, wait: !fullPage })] as const
              }
              const stop: LettaSchema.LettaMessage = {
                message_type: "stop_reason",
                stop_reason: current.stop_reason ?? stopReasonOf(current.status),
                run_id: run.id
              }
              return [[...batch, stop], Option.none()] as const
            }).pipe(Effect.map(([chunk, next]) => [Chunk.unsafeFromArray(chunk), next] as const))
        ).pipe(turnTimeout(`poll ${run.id}`, settings.timeouts.turn))
      )
    )

  const turn = (
    agentId: string,
    request: PipeRequest.PipeRequest,
    content: LettaSchema.MessageCreate["content"]
  ): Stream.Stream<LettaSchema.LettaMessage, PipelineError> => {
    const messages: ReadonlyArray<LettaSchema.MessageCreate> = [{ role: "user", content }]
    const conversationId = request.conversationId
    // REST needs it for `default`; the App Server for every conversation
    const agentOfConversation = { agent_id: agentId }
    if (Option.isSome(runs)) {
      return conversationId === undefined
        ? pollRun(runs.value, agentId, messages)
        : Stream.fromIterableEffect(
          Effect.map(
            client.sendConversation(conversationId, { messages, ...agentOfConversation }),
            fromResponse
          )
        )
    }
    const streaming = { messages, stream_tokens: request.streamTokens ?? settings.streamTokens, include_pings: true }
    return conversationId === undefined
      ? client.streamMessage(agentId, streaming)
      : client.streamConversation(conversationId, { ...streaming, ...agentOfConversation })
  }

  const pipe: Service["pipe"] = (request) => {
    const task = OpenWebUITask.detect(request)
    if (Option.isSome(task)) {
      return Stream.fromIterable(OpenWebUITask.reply(task.value, request, `Chat with ${settings.name}`)).pipe(
        Stream.tap(() => Effect.logDebug(`Answered Open WebUI task ${task.value} locally`))
      )
    }
    return StreamStage.unwrap(
      Effect.gen(function*() {
        const agentId = yield* resolveAgent(request)
        const content = yield* PipeRequest.lettaContent(request, settings.imageUrlHosts)
        return ChatStream.toEvents(turn(agentId, request, content), { agentId })
      })
    )
  }

  const runHook = (hook: PipelineHooks.Hook, name: string) =>
  (body: PipelineHooks.FilterBody, user?: PipelineHooks.FilterUser) =>
    hook(body, Option.fromNullable(user)).pipe(Effect.withSpan(`Pipeline.${name}`))

  return Pipeline.of({
    name: settings.name,
    pipe,
    inlet: runHook(hooks.inlet, "inlet"),
    outlet: runHook(hooks.outlet, "outlet")
  })
})

/**
 * The pipeline over the given client, settings and hooks.
 *
 * @category layers
 */
export const layer: Layer.Layer<
  Pipeline,
  ConfigError.ConfigError,
  LettaClient.LettaClient | LettaConfig.LettaConfig | PipelineHooks.PipelineHooks
> = Layer.scoped(Pipeline, make)

/**
 * Everything from these settings, with identity hooks; the transports (`LettaBackend.Transport`) from the
 * context.
 *
 * @category layers
 */
export const layerSettings = (
  settings: LettaConfig.Settings
): Layer.Layer<
  Pipeline | LettaClient.LettaClient | LettaConfig.LettaConfig,
  ConfigError.ConfigError,
  LettaBackend.Transport
> =>
  layer.pipe(Layer.provide(PipelineHooks.layerIdentity), Layer.provideMerge(LettaBackend.layerSettings(settings)))

/**
 * Everything from the environment, with identity hooks: the quickest way to a working pipeline.
 *
 * @category layers
 */
export const layerConfig: Layer.Layer<
  Pipeline | LettaClient.LettaClient | LettaConfig.LettaConfig,
  ConfigError.ConfigError,
  LettaBackend.Transport
> = layer.pipe(
    Layer.provide(PipelineHooks.layerIdentity),
    Layer.provideMerge(LettaBackend.layerConfig)
  )
