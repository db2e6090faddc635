/**
 * What the routes share: bodies decoded into `ValidationFailed`, path ids checked against Letta's patterns, lookups
 * that fail with `NotFound`, query parameters, id-cursor pages and FastAPI's trailing-slash redirects.
 */
import { HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect, Option, Schema } from "effect"
import * as RouteError from "../RouteError.js"

const decodeJsonText = Schema.decodeUnknown(Schema.parseJson())

/**
 * The body decoded by `schema`, or pydantic's 422 naming every problem; an empty body reads as `{}` when `emptyIsObject`.
 */
export const body = <A, I>(schema: Schema.Schema<A, I>, options: { readonly emptyIsObject?: boolean } = {}) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const text = yield* Effect.orElseSucceed(request.text, () => "")
    const json = text.trim() === "" && options.emptyIsObject === true
      ? {}
      : yield* Effect.mapError(decodeJsonText(text), RouteError.ValidationFailed.invalidJson)
    return yield* Schema.decodeUnknown(schema, { errors: "all", onExcessProperty: "ignore" })(json).pipe(
      Effect.mapError((error) => RouteError.ValidationFailed.fromParseError(error, json))
    )
  })

/** The query parameters of the request. */
export const query = Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
  new URL(request.url, "http://emulator").searchParams)

/** An id, from the path or a query parameter, checked against Letta's pattern for it: a 422 if it does not match. */
export const checkId = <A>(schema: Schema.Schema<A, string>, name: string, prefix: "agent" | "conv" | "run" | "identity") =>
(id: string): Effect.Effect<string, RouteError.ValidationFailed> =>
  Schema.is(schema)(id) ? Effect.succeed(id) : Effect.fail(RouteError.ValidationFailed.pathId(name, prefix, id))

/** The path parameter `name`, checked as by {@link checkId}. */
export const pathId = <A>(schema: Schema.Schema<A, string>, name: string, prefix: "agent" | "conv" | "run" | "identity") =>
  Effect.flatMap(HttpLayerRouter.params, (params) => checkId(schema, name, prefix)(params[name] ?? ""))

/** What `lookup` found, or Letta's 404 for `resource` `id`. */
export const found = <A>(resource: RouteError.NotFound["resource"], id: string, lookup: Effect.Effect<Option.Option<A>>) =>
  Effect.flatMap(lookup, Option.match({
    onNone: () => Effect.fail(new RouteError.NotFound({ resource, id })),
    onSome: Effect.succeed
  }))

const idOf = (item: object): string | undefined => ("id" in item && typeof item.id === "string" ? item.id : undefined)

/** A page of `items` in listing order, by id cursors (`after`, `before`, `limit`). */
export const page = <A extends object>(items: ReadonlyArray<A>, params: URLSearchParams, defaultLimit: number) => {
  const after = params.get("after")
  const before = params.get("before")
  let start = 0
  let end = items.length
  if (after !== null) start = items.findIndex((item) => idOf(item) === after) + 1
  if (before !== null) {
    const index = items.findIndex((item) => idOf(item) === before)
    if (index !== -1) end = index
  }
  const limit = Number(params.get("limit") ?? defaultLimit)
  const slice = start === 0 && after !== null ? [] : items.slice(start, end)
  return before !== null && after === null ? slice.slice(-limit) : slice.slice(0, limit)
}

/**
 * FastAPI's `redirect_slashes`: `path` (without its trailing slash) answers `307` to the same URL with the slash.
 * The location is built from the URL as sent, so it holds under any prefix the route is served with.
 */
export const redirectSlash = (method: "GET" | "POST" | "PUT", path: `/${string}`) =>
  HttpLayerRouter.add(method, path, (request) => {
    const url = new URL(request.originalUrl, `http://${request.headers.host ?? "127.0.0.1"}`)
    return Effect.succeed(
      HttpServerResponse.empty({ status: 307, headers: { location: `${url.origin}${url.pathname}/${url.search}` } })
    )
  })
