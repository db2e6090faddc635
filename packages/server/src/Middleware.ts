/**
 * What stands between a client and a route, as `HttpLayerRouter` middleware: the `Host` check against DNS rebinding,
 * the Origin policy, the bearer key, and the request metrics. Each route group is given one stack by composition
 * (`Layer.provide(stack.layer)`): {@link api} for everything that reaches Letta or the settings, {@link open} for the
 * chat page's files (no key), {@link health} for `/health` (any name, no key). A surface's error edge
 * (`ApiError.openAiRoute`, `ApiError.pipelinesRoute`) is inside them all, in its routes' handlers.
 *
 * Order, outermost first: metrics (every answer counted, refusals included), host, origin, key, then the route. A
 * `combine` puts its argument outside (`inner.combine(outer)`), and stacks are built right-nested so that the
 * platform's flattening keeps that order.
 *
 * Refusals answer in OpenAI's and FastAPI's shapes at once (`ApiError.both`): every kind of client may meet them.
 *
 * Around everything, the server's access log ({@link accessLog}): one line per answered request.
 *
 * @since 0.1.0
 */
import { HttpLayerRouter, HttpServerError, HttpServerRequest, type HttpServerResponse } from "@effect/platform"
import { Cause, Effect, Exit, Option, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { isIP } from "node:net"
import { hostname } from "node:os"
import * as ApiError from "./ApiError.js"
import * as Metrics from "./Metrics.js"
import * as ServerConfig from "./ServerConfig.js"

const digest = (text: string) => createHash("sha256").update(text).digest()

/** Constant-time comparison: the digests have equal length whatever the inputs. @category refinements */
export const sameSecret = (given: string, expected: string): boolean => timingSafeEqual(digest(given), digest(expected))

/**
 * Whether a browser may call: requests without an `Origin` (servers, CLIs, SDKs) may; from a page, only the server's
 * own origin and `PIPELINE_CORS_ORIGINS` (`*` for any). CORS alone only hides answers from other pages; this refuses
 * their requests, so that a page the user happens to open cannot chat, or open a WebSocket, in their name.
 *
 * @category refinements
 */
export const originAllowed = (headers: Readonly<Record<string, string | undefined>>, allowed: ReadonlyArray<string>): boolean => {
  const origin = headers.origin
  if (origin === undefined) return true
  if (allowed.includes(origin) || allowed.includes("*")) return true
  const host = headers.host
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

type Answer = Effect.Effect<HttpServerResponse.HttpServerResponse, HttpLayerRouter.unhandled>

/** The route when `allowed` holds for the request, else `refusal` (a 401/403 in both shapes). */
const refuseUnless = (
  allowed: (request: HttpServerRequest.HttpServerRequest) => boolean,
  refusal: (request: HttpServerRequest.HttpServerRequest) => ApiError.Problem
) =>
(route: Answer) =>
  Effect.flatMap(
    HttpServerRequest.HttpServerRequest,
    (request): Answer => allowed(request) ? route : Effect.succeed(ApiError.both(refusal(request)))
  )

/**
 * Counts every answer in `letta_pipeline_http_requests_total` by route template (`/v1/:pipeline_id/valves`, the
 * `/v1` twin under its own), method and status. Failures the route's edge did not turn into an answer (defects) are
 * not counted.
 *
 * @category middleware
 */
export const metrics = HttpLayerRouter.middleware(Effect.map(Metrics.Metrics, (metrics) => (route: Answer) =>
  Effect.tap(
    route,
    (response) =>
      Effect.flatMap(HttpLayerRouter.RouteContext, (context) =>
        metrics.request(context.route.path, context.route.method, response.status))
  )))

/**
 * Refuses (403) a `Host` the server is not known by ({@link hostAllowed}), `PIPELINE_ALLOWED_HOSTS` naming more.
 *
 * @category middleware
 */
export const host = HttpLayerRouter.middleware(Effect.map(ServerConfig.ServerConfig, (settings) =>
  refuseUnless(
    (request) => hostAllowed(request.headers.host, settings.allowedHosts),
    (request) => ({
      status: 403,
      message: `This server is not known as ${JSON.stringify(request.headers.host)}: add that name to PIPELINE_ALLOWED_HOSTS`,
      type: "invalid_request_error",
      code: "host_not_allowed"
    })
  )))

/**
 * Refuses (403) requests from pages of other origins ({@link originAllowed}), `PIPELINE_CORS_ORIGINS` allowing more.
 *
 * @category middleware
 */
export const origin = HttpLayerRouter.middleware(Effect.map(ServerConfig.ServerConfig, (settings) =>
  refuseUnless(
    (request) => originAllowed(request.headers, settings.corsOrigins),
    (request) => ({
      status: 403,
      message: `Requests from the page at ${JSON.stringify(request.headers.origin)} are not allowed: add its origin to PIPELINE_CORS_ORIGINS`,
      type: "invalid_request_error",
      code: "origin_not_allowed"
    })
  )))

const notAuthenticated: ApiError.Problem = {
  status: 401,
  message: "Not authenticated: send Authorization: Bearer <PIPELINE_API_KEY>",
  type: "invalid_request_error",
  code: "invalid_api_key"
}
const invalidKey: ApiError.Problem = { ...notAuthenticated, message: "Invalid API key" }

/**
 * Requires `PIPELINE_API_KEY` as a bearer token (compared in constant time), when one is set; nothing otherwise.
 *
 * @category middleware
 */
export const auth = HttpLayerRouter.middleware(Effect.map(ServerConfig.ServerConfig, (settings) =>
  Option.match(Option.map(settings.apiKey, Redacted.value), {
    onNone: () => (route: Answer) => route,
    onSome: (key) =>
      refuseUnless(
        (request) => {
          const authorization = request.headers.authorization ?? ""
          return authorization.toLowerCase().startsWith("bearer ") && sameSecret(authorization.slice(7).trim(), key)
        },
        (request) =>
          (request.headers.authorization ?? "").toLowerCase().startsWith("bearer ") ? invalidKey : notAuthenticated
      )
  })))

/**
 * `/health`: metrics and the Origin policy only. Any name and no key: load balancers probe by their own name, and it
 * tells nothing.
 *
 * @category middleware
 */
export const health = origin.combine(metrics)

/**
 * The chat page's files: everything but the key (the page asks for it when the API wants one).
 *
 * @category middleware
 */
export const open = origin.combine(host.combine(metrics))

/**
 * Every other route: metrics, host, origin and key.
 *
 * @category middleware
 */
export const api = auth.combine(open)

/** A request's path, without its query (which may carry a token). */
const pathOf = (url: string): string => {
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

/**
 * The access log, as the server's outermost middleware (`HttpLayerRouter.serve`'s `middleware`): one line per request
 * once it has been answered, `Sent HTTP response: POST /v1/chat/completions 200 (12 ms)`, the path without its query.
 * An answer that failed (a defect, a 500) is logged as an error with its cause; one whose client left (499) as info.
 *
 * The platform's own logger (`HttpMiddleware.logger`) logs as much through a log span and three annotations, which it
 * sets as fiber refs: about 55 KiB allocated per request, a tenth of a short turn's (`docs/benchmarks.md`).
 *
 * @category middleware
 */
export const accessLog = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    Effect.clockWith((clock) => {
      const started = clock.unsafeCurrentTimeMillis()
      const line = (status: number) =>
        `Sent HTTP response: ${request.method} ${pathOf(request.url)} ${status} (${clock.unsafeCurrentTimeMillis() - started} ms)`
      return Effect.onExit(app, (exit) =>
        Exit.isSuccess(exit)
          ? Effect.logInfo(line(exit.value.status))
          : Effect.suspend(() => {
            const [response, cause] = HttpServerError.causeResponseStripped(exit.cause)
            return Option.isSome(cause) && !Cause.isInterruptedOnly(cause.value)
              ? Effect.logError(line(response.status), cause.value)
              : Effect.logInfo(line(response.status))
          }))
    }))
