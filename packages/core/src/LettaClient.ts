/**
 * The Letta REST API as an Effect service: streamed turns as `Stream`s of decoded {@link LettaSchema.LettaMessage}s,
 * everything else as `Effect`s. Only `LettaError`, `HttpError` and `DecodeError` leave it.
 *
 * Ids are checked against Letta's patterns before a URL is built. Streams are released (and the upstream request
 * aborted) as soon as their consumer stops.
 *
 * @example
 * ```ts
 * import { FetchHttpClient } from "@effect/platform"
 * import { LettaClient, LettaConfig } from "@letta-pipeline/core"
 * import { Effect, Layer, Stream } from "effect"
 *
 * const settings = LettaConfig.make({ baseUrl: "http://localhost:8283" })
 *
 * // the assistant's messages of one streamed turn, over any HttpClient (here the fetch-based one)
 * export const reply = Effect.flatMap(LettaClient.LettaClient, (client) =>
 *   client.streamMessage("agent-a1b2c3d4-0000-4000-8000-000000000001", {
 *     messages: [{ role: "user", content: "Hello" }]
 *   }).pipe(
 *     Stream.filter((message) => message.message_type === "assistant_message"),
 *     Stream.runCollect
 *   )).pipe(Effect.provide(LettaClient.layerSettings(settings).pipe(Layer.provide(FetchHttpClient.layer))))
 * ```
 *
 * @example
 * ```ts
 * import { LettaClient } from "@letta-pipeline/core"
 * import { Effect } from "effect"
 *
 * // a fake for tests: the methods given; any other dies with "not implemented" when called
 * export const HealthyLetta = LettaClient.layerTest({ health: Effect.succeed({ version: "0.16.0", status: "ok" }) })
 * ```
 *
 * @since 0.1.0
 */
import type * as Sse from "@effect/experimental/Sse"
import { Headers, HttpClient, type HttpClientError, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import {
  type ConfigError,
  Context,
  Duration,
  Effect,
  Either,
  ExecutionStrategy,
  Exit,
  identity,
  Layer,
  Option,
  Redacted,
  Schema,
  Scope,
  Stream
} from "effect"
import * as Http from "./internal/http.js"
import * as Json from "./JsonText.js"
import { retryTransient, waitWhileBusy } from "./internal/retry.js"
import * as SseDecoder from "./internal/sse.js"
import { withTimeouts } from "./internal/timeouts.js"
import * as LettaConfig from "./LettaConfig.js"
import { DecodeError, excerptOf, LettaError, type PipelineError } from "./LettaError.js"
import * as LettaSchema from "./LettaSchema.js"

/** Query of `GET /v1/agents/`. @category models */
export interface ListAgentsQuery {
  /** Exact name. */
  readonly name?: string | undefined
  readonly tags?: ReadonlyArray<string> | undefined
  readonly matchAllTags?: boolean | undefined
  /** At most this many (one page, no paging): a cheap call, e.g. to see that the credentials are accepted. */
  readonly limit?: number | undefined
}

/** Query of `GET /v1/agents/{id}/messages`. @category models */
export interface ListMessagesQuery {
  readonly limit?: number | undefined
  readonly order?: "asc" | "desc" | undefined
  readonly before?: string | undefined
  readonly after?: string | undefined
  readonly conversationId?: string | undefined
}

/** Query of `GET /v1/runs/{id}/messages`. @category models */
export interface ListRunMessagesQuery {
  readonly after?: string | undefined
  readonly limit?: number | undefined
}

/** @category models */
export interface Service {
  /** `POST /v1/agents/{id}/messages/stream`: one turn, as it happens. */
  readonly streamMessage: (
    agentId: string,
    body: LettaSchema.LettaStreamingRequest
  ) => Stream.Stream<LettaSchema.LettaMessage, PipelineError>
  /** `POST /v1/conversations/{id}/messages` with `streaming: true`. */
  readonly streamConversation: (
    conversationId: string,
    body: LettaSchema.ConversationMessageRequest
  ) => Stream.Stream<LettaSchema.LettaMessage, PipelineError>
  /** `POST /v1/agents/{id}/messages`: one turn, answered when it is over. */
  readonly sendMessage: (
    agentId: string,
    body: LettaSchema.LettaRequest
  ) => Effect.Effect<LettaSchema.LettaResponse, PipelineError>
  /** `POST /v1/conversations/{id}/messages` with `streaming: false`: answered when the turn is over. */
  readonly sendConversation: (
    conversationId: string,
    body: LettaSchema.ConversationMessageRequest
  ) => Effect.Effect<LettaSchema.LettaResponse, PipelineError>
  /** `POST /v1/agents/{id}/messages/async`: starts a background run. */
  readonly createRun: (agentId: string, body: LettaSchema.LettaRequest) => Effect.Effect<LettaSchema.Run, PipelineError>
  /** `GET /v1/runs/{id}`. */
  readonly getRun: (runId: string) => Effect.Effect<LettaSchema.Run, PipelineError>
  /** `GET /v1/runs/{id}/messages`, oldest first. */
  readonly listRunMessages: (
    runId: string,
    query?: ListRunMessagesQuery
  ) => Effect.Effect<ReadonlyArray<LettaSchema.LettaMessage>, PipelineError>
  /** `POST /v1/agents/{id}/messages/cancel`. */
  readonly cancelRuns: (
    agentId: string,
    runIds?: ReadonlyArray<string>
  ) => Effect.Effect<Readonly<Record<string, string>>, PipelineError>
  /** `GET /v1/agents/`, every page. */
  readonly listAgents: (query?: ListAgentsQuery) => Effect.Effect<ReadonlyArray<LettaSchema.AgentState>, PipelineError>
  /** `GET /v1/agents/{id}`. */
  readonly getAgent: (agentId: string) => Effect.Effect<LettaSchema.AgentState, PipelineError>
  /** `GET /v1/agents/{id}/messages` (Letta's default order is newest first). */
  readonly listMessages: (
    agentId: string,
    query?: ListMessagesQuery
  ) => Effect.Effect<ReadonlyArray<LettaSchema.LettaMessage>, PipelineError>
  /** `GET /v1/health/`. */
  readonly health: Effect.Effect<LettaSchema.Health, PipelineError>
  /** `POST /v1/conversations/?agent_id=`. */
  readonly createConversation: (
    agentId: string,
    body?: LettaSchema.CreateConversation
  ) => Effect.Effect<LettaSchema.Conversation, PipelineError>
  /** `GET /v1/conversations/{id}`: the conversation and the agent it belongs to (`NotFound` when unknown). */
  readonly getConversation: (conversationId: string) => Effect.Effect<LettaSchema.Conversation, PipelineError>
}

/** @category services */
export class LettaClient extends Context.Tag("@letta-pipeline/core/LettaClient")<LettaClient, Service>() {}

/** Page size of `listAgents` (Letta's own default). */
const agentPageSize = 50
/** A guard against a server that keeps returning full pages. */
const maxAgentPages = 1000

const redactedHeaderNames = ["x-bare-password"]

// ---------------------------------------------------------------------------------------------------------------------
// ids
// ---------------------------------------------------------------------------------------------------------------------

const checkId = <A, I>(schema: Schema.Schema<A, I>, kind: string) => {
  const decode = Schema.decodeUnknownEither(schema)
  return (value: string): Effect.Effect<A, LettaError> =>
    Either.match(decode(value), {
      onRight: Effect.succeed,
      onLeft: () =>
        Effect.fail(
          new LettaError({
            reason: "InvalidId",
            detail: `${JSON.stringify(excerptOf(value, 80))} is not a valid ${kind} id (${idFormats[kind]})`
          })
        )
    })
}

const idFormats: Record<string, string> = {
  agent: "expected agent-<uuid4> or agent-local-<uuid>",
  conversation: "expected conv-<uuid4>, local-conv-<n> or default",
  run: "expected run-<uuid4> or local-run-<n>"
}

/** @category constructors */
export const checkAgentId = checkId(LettaSchema.AgentId, "agent")
/** @category constructors */
export const checkConversationId = checkId(LettaSchema.ConversationId, "conversation")
/** @category constructors */
export const checkRunId = checkId(LettaSchema.RunId, "run")

// ---------------------------------------------------------------------------------------------------------------------
// stream frames
// ---------------------------------------------------------------------------------------------------------------------

const decodeErrorMessage = Schema.decodeUnknownEither(LettaSchema.ErrorMessage)
const decodeTransportError = Schema.decodeUnknownEither(LettaSchema.TransportErrorBody)
const decodeCancelled = Schema.decodeUnknownEither(LettaSchema.CancelledBody)

const streamError = (
  error: LettaSchema.ErrorMessage,
  ids: { readonly agentId?: string | undefined }
): LettaError =>
  new LettaError({
    reason: "StreamError",
    detail: error.detail === undefined || error.detail === null || error.detail === ""
      ? error.message
      : `${error.message} (${error.detail})`,
    errorType: error.error_type,
    ...(error.run_id === undefined || error.run_id === null ? {} : { runId: error.run_id }),
    ...(ids.agentId === undefined ? {} : { agentId: ids.agentId })
  })

/** Marks `data: [DONE]`. */
const Done = Symbol.for("@letta-pipeline/core/LettaClient/Done")
/** A frame that ends the stream with an error, after the frames before it. */
class Failed {
  constructor(readonly error: LettaError | DecodeError) {}
}
type Frame = LettaSchema.LettaMessage | typeof Done | Failed

/**
 * One SSE event to a frame, synchronously, so that a whole chunk of events maps in one step. `event: error` (either
 * body shape) and `event: cancelled` fail the stream, other event names are skipped as the official SDK does.
 */
const toFrame = (
  event: Sse.Event,
  request: string,
  ids: { readonly agentId?: string | undefined }
): Option.Option<Frame> => {
  switch (event.event) {
    case "message": {
      if (event.data === "[DONE]") return Option.some(Done)
      const json = Json.parse(event.data)
      if (Either.isLeft(json)) return Option.some(new Failed(Http.invalidJson("stream event", request, event.data, json.left)))
      const message = LettaSchema.decodeMessage(json.right)
      if (Either.isLeft(message)) {
        return Option.some(new Failed(Http.invalidShape("stream event", request, event.data, message.left)))
      }
      return Option.some(message.right.message_type === "error_message" ? new Failed(streamError(message.right, ids)) : message.right)
    }
    case "error": {
      const json = Either.getOrUndefined(Json.parse(event.data))
      const inBand = decodeErrorMessage(json)
      if (Either.isRight(inBand)) return Option.some(new Failed(streamError(inBand.right, ids)))
      const transport = decodeTransportError(json)
      return Option.some(new Failed(
        new LettaError({
          reason: "StreamError",
          detail: Either.isRight(transport) ? transport.right.error : excerptOf(event.data),
          ...(Either.isRight(transport) && transport.right.code !== undefined
            ? { errorType: transport.right.code }
            : {}),
          ...(ids.agentId === undefined ? {} : { agentId: ids.agentId })
        })
      ))
    }
    case "cancelled": {
      const body = decodeCancelled(Either.getOrUndefined(Json.parse(event.data)))
      return Option.some(new Failed(
        new LettaError({
          reason: "Cancelled",
          detail: Either.isRight(body) ? body.right.message : "Run was cancelled",
          ...(ids.agentId === undefined ? {} : { agentId: ids.agentId })
        })
      ))
    }
    default:
      return Option.none()
  }
}

/**
 * Ends at `[DONE]` or at a failing frame (after the frames before it). A stream may also just end (Letta omits `[DONE]`
 * at times); that is fine once Letta said why it stopped, and an `Incomplete` error otherwise. Every step works on
 * whole chunks.
 */
const untilDone = (request: string, ids: { readonly agentId?: string | undefined }) =>
<E, R>(frames: Stream.Stream<Frame, E, R>): Stream.Stream<LettaSchema.LettaMessage, E | LettaError | DecodeError, R> =>
  Stream.suspend(() => {
    let finished = false
    let failure: LettaError | DecodeError | undefined
    return frames.pipe(
      Stream.takeWhile((frame): frame is LettaSchema.LettaMessage => {
        if (frame === Done) {
          finished = true
          return false
        }
        if (frame instanceof Failed) {
          failure = frame.error
          return false
        }
        if (frame.message_type === "stop_reason") finished = true
        return true
      }),
      Stream.concat(
        Stream.suspend(() =>
          failure !== undefined ? Stream.fail(failure) : finished ? Stream.empty : Stream.fail(
            new LettaError({
              reason: "Incomplete",
              detail: "the stream ended without a stop_reason or [DONE]",
              request,
              ...(ids.agentId === undefined ? {} : { agentId: ids.agentId })
            })
          )
        )
      )
    )
  })

// ---------------------------------------------------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Builds the client over an `HttpClient`, configured by `LettaConfig`.
 *
 * @category constructors
 */
export const make: Effect.Effect<Service, never, HttpClient.HttpClient | LettaConfig.LettaConfig> = Effect.gen(
  function*() {
    const settings = yield* LettaConfig.LettaConfig
    const limits = settings.timeouts
    // No User-Agent on purpose: Letta treats UA-less clients as SDK 1.0+, while a UA such as `node` or
    // `letta-pipeline/x` marks a "legacy" client (422 on streaming, heavier agent payloads).
    const client = (yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest((request) => {
        let out = HttpClientRequest.prependUrl(request, settings.baseUrl)
        if (Option.isSome(settings.apiKey)) out = HttpClientRequest.bearerToken(out, settings.apiKey.value)
        if (Option.isSome(settings.password)) {
          out = HttpClientRequest.setHeader(out, "x-bare-password", `password ${Redacted.value(settings.password.value)}`)
        }
        return out
      }),
      HttpClient.transformResponse(
        Effect.locallyWith(Headers.currentRedactedNames, (names) => [...names, ...redactedHeaderNames])
      )
    )
    const scopedClient = HttpClient.withScope(client)

    type Ids = { readonly agentId?: string | undefined; readonly conversationId?: string | undefined }

    /** Executes and checks the status; headers must arrive within `timeout`. */
    const send = <R>(
      httpClient: HttpClient.HttpClient.With<HttpClientError.HttpClientError, R>,
      request: HttpClientRequest.HttpClientRequest,
      ids: Ids,
      timeout: Duration.Duration,
      phase: "connect" | "turn"
    ): Effect.Effect<HttpClientResponse.HttpClientResponse, PipelineError, R> =>
      httpClient.execute(request).pipe(
        Effect.mapError(Http.fromRequestError),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => Http.timeoutError(Http.describeRequest(request), phase, timeout)
        }),
        Effect.flatMap((response) =>
          response.status >= 200 && response.status < 300
            ? Effect.succeed(response)
            : Effect.flatMap(
              Http.readText(response, limits.idle),
              (body) => Effect.fail(Http.fromStatus(response, body, ids))
            )
        )
      )

    const json = <A, I>(
      request: HttpClientRequest.HttpClientRequest,
      schema: Schema.Schema<A, I>,
      what: string,
      ids: Ids = {},
      headerTimeout: Duration.Duration = limits.connect,
      phase: "connect" | "turn" = "connect"
    ): Effect.Effect<A, PipelineError> => {
      const decode = Schema.decodeUnknownEither(schema)
      const label = Http.describeRequest(request)
      return send(client, HttpClientRequest.acceptJson(request), ids, headerTimeout, phase).pipe(
        Effect.flatMap((response) => Http.readText(response, limits.idle)),
        Effect.flatMap((text) => {
          const body = Json.parse(text)
          if (Either.isLeft(body)) return Effect.fail(Http.invalidJson(what, label, text, body.left))
          return Either.match(decode(body.right), {
            onRight: Effect.succeed,
            onLeft: (error) =>
              Effect.zipRight(
                Effect.logDebug(`The ${what} from ${label} has an unexpected shape: ${Http.parseErrorTree(error)}`),
                Effect.fail(Http.invalidShape(what, label, text, error))
              )
          })
        }),
        Effect.scoped,
        // reads are idempotent: a transient failure is retried; anything that may have changed Letta is not
        request.method === "GET" ? retryTransient(settings.retries, label) : identity
      )
    }

    const stream = (
      request: HttpClientRequest.HttpClientRequest,
      ids: Ids
    ): Stream.Stream<LettaSchema.LettaMessage, PipelineError> => {
      const label = Http.describeRequest(request)
      return Stream.unwrapScoped(Effect.gen(function*() {
        // the HTTP request lives in its own scope, so that a timeout can abort it
        const requestScope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
        const messages = Stream.unwrap(Effect.map(
          send(scopedClient, HttpClientRequest.accept(request, "text/event-stream"), ids, limits.connect, "connect").pipe(
            Scope.extend(requestScope),
            // every stream is a turn: sent again while Letta is still busy with an earlier one
            waitWhileBusy(settings.busyWait, label)
          ),
          (response): Stream.Stream<LettaSchema.LettaMessage, PipelineError> => {
            const contentType = response.headers["content-type"] ?? ""
            if (!contentType.includes("text/event-stream")) {
              return Stream.fail(
                new DecodeError({
                  reason: "ContentType",
                  what: "stream response",
                  request: label,
                  detail: `expected text/event-stream, got ${contentType === "" ? "no content type" : contentType}`
                })
              )
            }
            return response.stream.pipe(
              Stream.mapError(Http.fromRequestError),
              SseDecoder.decode(),
              Stream.catchTag("EventTooLarge", (error) => Stream.fail(Http.frameTooLarge(label, error))),
              Stream.filterMap((event) => toFrame(event, label, ids)),
              untilDone(label, ids)
            )
          }
        ))
        return messages.pipe(withTimeouts(
          label,
          { first: limits.firstEvent, idle: limits.idle, turn: limits.turn },
          Scope.close(requestScope, Exit.void)
        ))
      }))
    }

    /** A turn in a conversation: its 404 means the conversation is gone, unless it is the agent's own thread. */
    const conversationIds = (conversationId: string, agentId: string | undefined): Ids => ({
      agentId,
      ...(conversationId === "default" ? {} : { conversationId })
    })

    const post = (path: string, body: unknown) =>
      HttpClientRequest.post(path).pipe(HttpClientRequest.bodyUnsafeJson(body))

    const streamMessage: Service["streamMessage"] = (agentId, body) =>
      Stream.unwrap(
        Effect.map(checkAgentId(agentId), (id) =>
          stream(
            post(`/v1/agents/${id}/messages/stream`, Schema.encodeSync(LettaSchema.LettaStreamingRequest)(body)),
            { agentId: id }
          ))
      )

    const streamConversation: Service["streamConversation"] = (conversationId, body) =>
      Stream.unwrap(
        Effect.gen(function*() {
          const id = yield* checkConversationId(conversationId)
          if (body.agent_id !== undefined) yield* checkAgentId(body.agent_id)
          const encoded = Schema.encodeSync(LettaSchema.ConversationMessageRequest)({ ...body, streaming: true })
          return stream(post(`/v1/conversations/${id}/messages`, encoded), conversationIds(id, body.agent_id))
        })
      )

    const sendMessage = Effect.fn("LettaClient.sendMessage")(function*(
      agentId: string,
      body: LettaSchema.LettaRequest
    ) {
      const id = yield* checkAgentId(agentId)
      const request = post(`/v1/agents/${id}/messages`, Schema.encodeSync(LettaSchema.LettaRequest)(body))
      return yield* json(request, LettaSchema.LettaResponse, "turn response", { agentId: id }, limits.turn, "turn").pipe(
        waitWhileBusy(settings.busyWait, Http.describeRequest(request))
      )
    })

    const sendConversation = Effect.fn("LettaClient.sendConversation")(function*(
      conversationId: string,
      body: LettaSchema.ConversationMessageRequest
    ) {
      const id = yield* checkConversationId(conversationId)
      if (body.agent_id !== undefined) yield* checkAgentId(body.agent_id)
      const encoded = Schema.encodeSync(LettaSchema.ConversationMessageRequest)({ ...body, streaming: false })
      const request = post(`/v1/conversations/${id}/messages`, encoded)
      return yield* json(request, LettaSchema.LettaResponse, "turn response", conversationIds(id, body.agent_id), limits.turn, "turn")
        .pipe(waitWhileBusy(settings.busyWait, Http.describeRequest(request)))
    })

    const createRun = Effect.fn("LettaClient.createRun")(function*(agentId: string, body: LettaSchema.LettaRequest) {
      const id = yield* checkAgentId(agentId)
      const request = post(`/v1/agents/${id}/messages/async`, Schema.encodeSync(LettaSchema.LettaRequest)(body))
      return yield* json(request, LettaSchema.Run, "run", { agentId: id }).pipe(
        waitWhileBusy(settings.busyWait, Http.describeRequest(request))
      )
    })

    const getRun = Effect.fn("LettaClient.getRun")(function*(runId: string) {
      const id = yield* checkRunId(runId)
      return yield* json(HttpClientRequest.get(`/v1/runs/${id}`), LettaSchema.Run, "run")
    })

    const listRunMessages = Effect.fn("LettaClient.listRunMessages")(function*(
      runId: string,
      query: ListRunMessagesQuery = {}
    ) {
      const id = yield* checkRunId(runId)
      const request = HttpClientRequest.get(`/v1/runs/${id}/messages`, {
        urlParams: {
          order: "asc",
          ...(query.after === undefined ? {} : { after: query.after }),
          ...(query.limit === undefined ? {} : { limit: String(query.limit) })
        }
      })
      return yield* json(request, LettaSchema.MessageList, "run messages")
    })

    const cancelRuns = Effect.fn("LettaClient.cancelRuns")(function*(
      agentId: string,
      runIds?: ReadonlyArray<string>
    ) {
      const id = yield* checkAgentId(agentId)
      if (runIds !== undefined) yield* Effect.forEach(runIds, checkRunId)
      return yield* json(
        post(`/v1/agents/${id}/messages/cancel`, runIds === undefined ? {} : { run_ids: runIds }),
        Schema.Record({ key: Schema.String, value: Schema.String }),
        "cancel response",
        { agentId: id }
      )
    })

    const listAgents = Effect.fn("LettaClient.listAgents")(function*(query: ListAgentsQuery = {}) {
      const agents: Array<LettaSchema.AgentState> = []
      let after: string | undefined
      const pageSize = query.limit === undefined ? agentPageSize : Math.max(1, Math.min(query.limit, agentPageSize))
      for (let page = 0; page < maxAgentPages; page++) {
        const urlParams: Array<[string, string]> = [["limit", String(pageSize)]]
        if (query.name !== undefined) urlParams.push(["name", query.name])
        for (const tag of query.tags ?? []) urlParams.push(["tags", tag])
        if (query.matchAllTags === true) urlParams.push(["match_all_tags", "true"])
        if (after !== undefined) urlParams.push(["after", after])
        const batch = yield* json(HttpClientRequest.get("/v1/agents/", { urlParams }), LettaSchema.AgentList, "agent list")
        agents.push(...batch)
        if (query.limit !== undefined) return agents.slice(0, query.limit)
        const last = batch.at(-1)
        if (batch.length < pageSize || last === undefined || last.id === after) break
        after = last.id
      }
      return agents
    })

    const getAgent = Effect.fn("LettaClient.getAgent")(function*(agentId: string) {
      const id = yield* checkAgentId(agentId)
      return yield* json(HttpClientRequest.get(`/v1/agents/${id}`), LettaSchema.AgentState, "agent", { agentId: id })
    })

    const listMessages = Effect.fn("LettaClient.listMessages")(function*(
      agentId: string,
      query: ListMessagesQuery = {}
    ) {
      const id = yield* checkAgentId(agentId)
      if (query.conversationId !== undefined) yield* checkConversationId(query.conversationId)
      const urlParams: Record<string, string> = {}
      if (query.limit !== undefined) urlParams.limit = String(query.limit)
      if (query.order !== undefined) urlParams.order = query.order
      if (query.before !== undefined) urlParams.before = query.before
      if (query.after !== undefined) urlParams.after = query.after
      if (query.conversationId !== undefined) urlParams.conversation_id = query.conversationId
      return yield* json(
        HttpClientRequest.get(`/v1/agents/${id}/messages`, { urlParams }),
        LettaSchema.MessageList,
        "message list",
        { agentId: id }
      )
    })

    const health = json(HttpClientRequest.get("/v1/health/"), LettaSchema.Health, "health response").pipe(
      Effect.withSpan("LettaClient.health")
    )

    const createConversation = Effect.fn("LettaClient.createConversation")(function*(
      agentId: string,
      body: LettaSchema.CreateConversation = {}
    ) {
      const id = yield* checkAgentId(agentId)
      return yield* json(
        HttpClientRequest.post("/v1/conversations/", { urlParams: { agent_id: id } }).pipe(
          HttpClientRequest.bodyUnsafeJson(Schema.encodeSync(LettaSchema.CreateConversation)(body))
        ),
        LettaSchema.Conversation,
        "conversation",
        { agentId: id }
      )
    })

    const getConversation = Effect.fn("LettaClient.getConversation")(function*(conversationId: string) {
      const id = yield* checkConversationId(conversationId)
      return yield* json(HttpClientRequest.get(`/v1/conversations/${id}`), LettaSchema.Conversation, "conversation", {
        conversationId: id
      })
    })

    return LettaClient.of({
      streamMessage,
      streamConversation,
      sendMessage,
      sendConversation,
      getConversation,
      createRun,
      getRun,
      listRunMessages,
      cancelRuns,
      listAgents,
      getAgent,
      listMessages,
      health,
      createConversation
    })
  }
)

/**
 * The client over whatever `HttpClient` and `LettaConfig` are provided.
 *
 * @category layers
 */
export const layer: Layer.Layer<LettaClient, never, HttpClient.HttpClient | LettaConfig.LettaConfig> = Layer.effect(
  LettaClient,
  make
)

/**
 * The client and these settings, over the `HttpClient` of the context (on Node, `HttpTransport.layer(settings)` of
 * `@letta-pipeline/core/node` honours their TLS settings).
 *
 * @category layers
 */
export const layerSettings = (
  settings: LettaConfig.Settings
): Layer.Layer<LettaClient | LettaConfig.LettaConfig, never, HttpClient.HttpClient> =>
  layer.pipe(Layer.provideMerge(Layer.succeed(LettaConfig.LettaConfig, settings)))

/**
 * The client and its settings from the environment (`LettaConfig.config`), over the `HttpClient` of the context.
 *
 * @category layers
 */
export const layerConfig: Layer.Layer<
  LettaClient | LettaConfig.LettaConfig,
  ConfigError.ConfigError,
  HttpClient.HttpClient
> = layer.pipe(Layer.provideMerge(LettaConfig.layerConfig))

/**
 * A client whose methods are the given ones; any other method dies with "not implemented" when called.
 *
 * @category layers
 */
export const layerTest = (implementation: Partial<Service>): Layer.Layer<LettaClient> => {
  const missing = (name: string) => Effect.dieMessage(`LettaClient.${name} is not implemented in this test`)
  return Layer.succeed(
    LettaClient,
    LettaClient.of({
      streamMessage: () => Stream.fromEffect(missing("streamMessage")),
      streamConversation: () => Stream.fromEffect(missing("streamConversation")),
      sendMessage: () => missing("sendMessage"),
      sendConversation: () => missing("sendConversation"),
      createRun: () => missing("createRun"),
      getRun: () => missing("getRun"),
      listRunMessages: () => missing("listRunMessages"),
      cancelRuns: () => missing("cancelRuns"),
      listAgents: () => missing("listAgents"),
      getAgent: () => missing("getAgent"),
      listMessages: () => missing("listMessages"),
      health: missing("health"),
      createConversation: () => missing("createConversation"),
      getConversation: () => missing("getConversation"),
      ...implementation
    })
  )
}
