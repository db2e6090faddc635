/**
 * What every route shares: registration with auth (constant-time bearer check) and metrics, bounded body reading,
 * JSON decoding with clear 4xx answers, and the chat request → pipeline turn step.
 *
 * @since 0.1.0
 */
import { HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { JsonText, LettaClient, LettaConfig, LettaError, OpenWebUITask, type PipeRequest, SchemaText } from "@letta-pipeline/core"
import { Effect, Either, Option, ParseResult, Redacted, Schema, type Scope } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { isIP } from "node:net"
import { hostname } from "node:os"
import type { IncomingMessage } from "node:http"
import * as ApiError from "./ApiError.js"
import * as ChatThreads from "./ChatThreads.js"
import * as Metrics from "./Metrics.js"
import * as Models from "./Models.js"
import type * as OpenAi from "./OpenAi.js"
import * as ServerConfig from "./ServerConfig.js"
import * as Valves from "./Valves.js"

/** A handler with its dependencies already captured. @category models */
export type Handler = Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  HttpServerRequest.HttpServerRequest | HttpLayerRouter.RouteContext | Scope.Scope
>

/** @category models */
export type Path = `/${string}`

const digest = (text: string) => createHash("sha256").update(text).digest()

/** Constant-time comparison: the digests have equal length whatever the inputs. */
export const sameSecret = (given: string, expected: string): boolean => timingSafeEqual(digest(given), digest(expected))

/**
 * Whether a browser may call: requests without an `Origin` (servers, CLIs, SDKs) may; from a page, only the server's
 * own origin and `PIPELINE_CORS_ORIGINS` (`*` for any). CORS alone only hides answers from other pages; this refuses
 * their requests, so that a page the user happens to open cannot chat, or open a WebSocket, in their name.
 */
const originAllowed = (request: HttpServerRequest.HttpServerRequest, allowed: ReadonlyArray<string>): boolean => {
  const origin = request.headers.origin
  if (origin === undefined) return true
  if (allowed.includes(origin) || allowed.includes("*")) return true
  const host = request.headers.host
  return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`)
}

/**
 * Whether the request names this server by a host it is known by. A DNS-rebinding page names it by the attacker's
 * domain (re-pointed at this address), so its requests look same-origin and may carry no `Origin` at all; only the
 * `Host` header tells. Known: IP addresses (no name to re-point), `localhost` and `*.localhost` (browsers resolve them
 * to loopback themselves), this machine's name, and `PIPELINE_ALLOWED_HOSTS` (`*` for any).
 *
 * @category refinements
 */
export const hostAllowed = (host: string | undefined, allowed: ReadonlyArray<string>): boolean => {
  if (allowed.includes("*")) return true
  if (host === undefined) return true
  // the name without the port; an IPv6 literal keeps its brackets
  const name = (host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d*$/, "")).toLowerCase()
  return isIP(name.replace(/^\[|\]$/g, "")) !== 0 ||
    name === "localhost" || name.endsWith(".localhost") ||
    name === hostname().toLowerCase() ||
    allowed.includes(name)
}

/**
 * Registers one route (also under `/v1` when `alsoV1`): counts it, refuses pages of other origins, and requires
 * `PIPELINE_API_KEY` as a bearer token when one is set, unless the route is `open` (health, the chat page's files).
 *
 * @category constructors
 */
export const route = Effect.fnUntraced(function*(
  method: "GET" | "POST",
  path: Path,
  handler: Handler,
  options: { readonly alsoV1?: boolean; readonly open?: boolean } = {}
) {
  const router = yield* HttpLayerRouter.HttpRouter
  const settings = yield* ServerConfig.ServerConfig
  const metrics = yield* Metrics.Metrics
  const key = Option.map(settings.apiKey, Redacted.value)
  const guarded = (template: string): Handler =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const authorization = request.headers.authorization ?? ""
      const origin = request.headers.origin
      const host = request.headers.host
      // health stays answerable by any name: load balancers probe by theirs, and it tells nothing
      const response = path !== "/health" && !hostAllowed(host, settings.allowedHosts)
        ? ApiError.both({
          status: 403,
          message: `This server is not known as ${JSON.stringify(host)}: add that name to PIPELINE_ALLOWED_HOSTS`,
          type: "invalid_request_error",
          code: "host_not_allowed"
        })
        : !originAllowed(request, settings.corsOrigins)
        ? ApiError.both({
          status: 403,
          message: `Requests from the page at ${JSON.stringify(origin)} are not allowed: add its origin to PIPELINE_CORS_ORIGINS`,
          type: "invalid_request_error",
          code: "origin_not_allowed"
        })
        : Option.isNone(key) || options.open === true
        ? yield* handler
        : !authorization.toLowerCase().startsWith("bearer ")
        ? ApiError.both({ status: 401, message: "Not authenticated: send Authorization: Bearer <PIPELINE_API_KEY>", type: "invalid_request_error", code: "invalid_api_key" })
        : !sameSecret(authorization.slice(7).trim(), key.value)
        ? ApiError.both({ status: 401, message: "Invalid API key", type: "invalid_request_error", code: "invalid_api_key" })
        : yield* handler
      yield* metrics.request(template, method, response.status)
      return response
    })
  yield* router.add(method, path, guarded(path))
  if (options.alsoV1 === true) yield* router.add(method, `/v1${path}`, guarded(`/v1${path}`))
})

/**
 * The body's text, read up to `max` bytes. Past the limit it stops keeping what arrives and lets the rest drain, so
 * that the 413 reaches the client (the platform's own limit destroys the socket, and the client sees a reset).
 */
const readBounded = (incoming: IncomingMessage, max: number): Effect.Effect<string, "TooLarge" | "Unreadable"> =>
  Effect.async((resume) => {
    const parts: Array<Buffer> = []
    let bytes = 0
    const cleanup = () => {
      incoming.off("data", onData)
      incoming.off("end", onEnd)
      incoming.off("error", onError)
    }
    const onData = (chunk: Buffer) => {
      bytes += chunk.length
      if (bytes <= max) return void parts.push(chunk)
      cleanup()
      parts.length = 0
      incoming.resume()
      resume(Effect.fail("TooLarge"))
    }
    const onEnd = () => {
      cleanup()
      resume(Effect.succeed(Buffer.concat(parts).toString("utf8")))
    }
    const onError = () => {
      cleanup()
      resume(Effect.fail("Unreadable"))
    }
    incoming.on("data", onData)
    incoming.once("end", onEnd)
    incoming.once("error", onError)
    return Effect.sync(cleanup)
  })

/**
 * The request body as JSON, within `PIPELINE_MAX_BODY`; a clear `Problem` otherwise.
 *
 * @category constructors
 */
export const jsonBody = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const settings = yield* ServerConfig.ServerConfig
  const tooLarge = { ...ApiError.badRequest(`request body larger than ${settings.maxBodyBytes} bytes`, "body_too_large"), status: 413 }
  const declared = Number(request.headers["content-length"] ?? "0")
  if (declared > settings.maxBodyBytes) return Either.left(tooLarge)
  const text = yield* Effect.either(readBounded(NodeHttpServerRequest.toIncomingMessage(request), settings.maxBodyBytes))
  if (Either.isLeft(text)) {
    return Either.left(text.left === "TooLarge" ? tooLarge : ApiError.badRequest("request body could not be read", "unreadable_body"))
  }
  return Either.mapLeft(JsonText.parse(text.right), (why) => ApiError.badRequest(`request body is ${why}`, "invalid_json"))
})

const encodeJson = Schema.encodeSync(Schema.parseJson())

/** A JSON answer. @category constructors */
export const json = (value: unknown, status = 200): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(encodeJson(value), { status, contentType: "application/json" })

/**
 * What a client is told about a schema failure: `<what>: <path>: expected …, got …` (`SchemaText.describe`), never the
 * schema; the whole tree (`ParseResult.TreeFormatter`) goes to the debug log.
 *
 * @category constructors
 */
export const schemaProblem = (what: string, error: ParseResult.ParseError): Effect.Effect<string> =>
  Effect.as(
    Effect.logDebug(`${what}: ${ParseResult.TreeFormatter.formatErrorSync(error)}`),
    `${what}: ${SchemaText.describe(error)}`
  )

/**
 * Decodes a parsed body; the problem (400) names every wrong field, its path and what was expected (see
 * {@link schemaProblem}).
 *
 * @category constructors
 */
export const decodeBody = <A, I>(
  schema: Schema.Schema<A, I>,
  body: unknown
): Effect.Effect<Either.Either<A, ApiError.Problem>> =>
  Either.match(Schema.decodeUnknownEither(schema, { errors: "all" })(body), {
    onLeft: (error) =>
      Effect.map(schemaProblem("invalid request body", error), (message) => Either.left(ApiError.badRequest(message))),
    onRight: (decoded) => Effect.succeed(Either.right(decoded))
  })

/** The body as a record, for hooks and task detection. */
export const asRecord = (value: unknown): Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : {}

/**
 * Whether a request comes through Open WebUI: one of the headers it forwards (`X-OpenWebUI-*`, with
 * `ENABLE_FORWARD_USER_INFO_HEADERS` or custom forwarded headers), or the marker this server's Pipelines inlet sets
 * (`openwebui: true`; Open WebUI calls the inlet on both connection kinds when the connection has a key). OpenAI's own
 * `metadata` field and a client library's User-Agent say nothing: a plain OpenAI client must never get Open WebUI's
 * `{"event": …}` chunks, which have no `choices` and break its streaming loop.
 */
export const fromOpenWebUI = (
  headers: Readonly<Record<string, string | undefined>>,
  body: Readonly<Record<string, unknown>>
): boolean => Object.keys(headers).some((name) => name.startsWith("x-openwebui-")) || body.openwebui === true

/** The longest id (model, chat id, conversation id, task name) a request may carry, in characters. @category constants */
export const maxIdChars = 256

/**
 * An OpenAI-style chat request as a pipeline turn: the model resolved to an agent, the Open WebUI chat mapped to its
 * Letta conversation (never for background tasks), the task and the token valve passed on.
 *
 * @category constructors
 */
export const turnRequest = Effect.fnUntraced(function*(
  chat: Pick<OpenAi.ChatCompletionRequest, "messages" | "chat_id" | "task"> & {
    readonly model?: string | undefined
    readonly conversation_id?: string | undefined
    readonly user_message?: string | undefined
  },
  raw: Readonly<Record<string, unknown>>
) {
  const request = yield* HttpServerRequest.HttpServerRequest
  const models = yield* Models.Models
  const threads = yield* ChatThreads.ChatThreads
  const valves = yield* (yield* Valves.ValvesStore).get
  const letta = yield* LettaConfig.LettaConfig
  const task = request.headers["x-openwebui-task"] ?? chat.task
  const chatId = request.headers["x-openwebui-chat-id"] ?? chat.chat_id ?? OpenWebUITask.metadataField(raw, "chat_id")
  // ids are stored (the chat map) and forwarded (a conversation's summary, URLs): none may be of any size
  for (const [name, value] of [["model", chat.model], ["chat id", chatId], ["conversation_id", chat.conversation_id], ["task", task]] as const) {
    if (value !== undefined && value.length > maxIdChars) {
      return yield* new LettaError.LettaError({
        reason: "InvalidRequest",
        detail: `the ${name} is ${value.length} characters long; at most ${maxIdChars} are accepted`
      })
    }
  }
  const model = chat.model ?? Option.getOrUndefined(letta.agentId)
  if (model === undefined) {
    return yield* new LettaError.LettaError({
      reason: "InvalidRequest",
      detail: "no agent chosen: pass an agent id or name as the model, or set LETTA_AGENT_ID"
    })
  }
  const agentId = yield* models.resolve(model)
  yield* LettaClient.checkAgentId(agentId)
  if (chat.conversation_id !== undefined && chat.conversation_id !== "default") {
    yield* models.checkConversation(agentId, chat.conversation_id)
  }
  const draft: PipeRequest.PipeRequest = {
    model: agentId,
    userMessage: chat.user_message,
    messages: chat.messages,
    body: raw,
    task: task === "" ? undefined : task,
    streamTokens: valves.stream_tokens
  }
  const isTask = Option.isSome(OpenWebUITask.detect(draft))
  if (chat.conversation_id !== undefined || isTask) {
    return { request: { ...draft, conversationId: chat.conversation_id }, chat: undefined } satisfies Turn
  }
  const conversation = yield* threads.conversationFor(agentId, chatId)
  return {
    request: { ...draft, conversationId: Option.getOrUndefined(conversation) },
    // a conversation of the map: one Letta lost is replaced (`ChatThreads.pipe`)
    chat: chatId === undefined || ChatThreads.isStateless(chatId) ? undefined : { agentId, chatId }
  } satisfies Turn
})

/**
 * A turn ready for `ChatThreads.pipe`: the pipeline's request, and the chat whose conversation the map chose.
 *
 * @category models
 */
export interface Turn {
  readonly request: PipeRequest.PipeRequest
  readonly chat: ChatThreads.Chat | undefined
}
