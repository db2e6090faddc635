/**
 * What every route shares: bounded body reading, JSON decoding that fails with the request errors of `ApiError`
 * (413, 400; the surface's edge renders them), JSON answers, and the `/v1` twins of a route group.
 *
 * @since 0.1.0
 */
import { HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { JsonText, SchemaText } from "@letta-pipeline/core"
import { Effect, ParseResult, Schema, type Scope } from "effect"
import type { IncomingMessage } from "node:http"
import * as ApiError from "./ApiError.js"

/**
 * A route's handler, its services captured when the routes were built: what it needs comes from the request alone
 * (the request, its route and its Scope, which lasts while the response streams). It fails with `E`, which its
 * surface's edge renders (`ApiError.openAiRoute`, `ApiError.pipelinesRoute`).
 *
 * @category models
 */
export type Handler<E = never> = Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  E,
  HttpServerRequest.HttpServerRequest | HttpLayerRouter.RouteContext | Scope.Scope
>

/** @category models */
export type Path = `/${string}`

/**
 * The routes, and each again under `/v1` (the platform's prefixing: the twin's metrics template starts `/v1`).
 *
 * @category constructors
 */
export const withV1Twins = <E, R>(
  routes: ReadonlyArray<HttpLayerRouter.Route<E, R>>
): ReadonlyArray<HttpLayerRouter.Route<E, R>> => [...routes, ...routes.map(HttpLayerRouter.prefixRoute("/v1"))]

/**
 * The body's text, read up to `max` bytes. Past the limit it stops keeping what arrives and lets the rest drain, so
 * that the 413 reaches the client (the platform's own limit destroys the socket, and the client sees a reset).
 */
const readBounded = (
  incoming: IncomingMessage,
  max: number
): Effect.Effect<string, ApiError.BodyTooLarge | ApiError.UnreadableBody> =>
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
      resume(Effect.fail(new ApiError.BodyTooLarge({ maxBytes: max })))
    }
    const onEnd = () => {
      cleanup()
      resume(Effect.succeed(Buffer.concat(parts).toString("utf8")))
    }
    const onError = () => {
      cleanup()
      resume(Effect.fail(new ApiError.UnreadableBody()))
    }
    incoming.on("data", onData)
    incoming.once("end", onEnd)
    incoming.once("error", onError)
    return Effect.sync(cleanup)
  })

/**
 * Errors of {@link jsonBody}.
 *
 * @category errors
 */
export type BodyError = ApiError.BodyTooLarge | ApiError.UnreadableBody | ApiError.InvalidJson

/**
 * The request body as JSON, within `maxBytes` (`PIPELINE_MAX_BODY`): refused by its `Content-Length` before any byte
 * is read, or as soon as more arrives.
 *
 * @category constructors
 */
export const jsonBody = (maxBytes: number): Effect.Effect<unknown, BodyError, HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const declared = Number(request.headers["content-length"] ?? "0")
    if (declared > maxBytes) return yield* new ApiError.BodyTooLarge({ maxBytes })
    const text = yield* readBounded(NodeHttpServerRequest.toIncomingMessage(request), maxBytes)
    return yield* Effect.mapError(JsonText.parse(text), (why) => new ApiError.InvalidJson({ why }))
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
 * A schema failure as {@link ApiError.InvalidBody}, its message `<what>: …` (see {@link schemaProblem}).
 *
 * @category constructors
 */
export const invalidBody = (what: string) => (error: ParseResult.ParseError): Effect.Effect<never, ApiError.InvalidBody> =>
  Effect.flatMap(schemaProblem(what, error), (message) => new ApiError.InvalidBody({ message }))

/**
 * Decodes a parsed value; the failure names every wrong field, its path and what was expected, after `what` (see
 * {@link schemaProblem}).
 *
 * @category constructors
 */
export const decode = <A, I>(what: string, schema: Schema.Schema<A, I>, value: unknown): Effect.Effect<A, ApiError.InvalidBody> =>
  Effect.catchTag(Schema.decodeUnknown(schema, { errors: "all" })(value), "ParseError", invalidBody(what))

/**
 * Decodes a parsed body (`invalid request body: …`, a 400).
 *
 * @category constructors
 */
export const decodeBody = <A, I>(schema: Schema.Schema<A, I>, body: unknown): Effect.Effect<A, ApiError.InvalidBody> =>
  decode("invalid request body", schema, body)

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
