/**
 * The HTTP server: every route over core's pipeline, CORS when configured, metrics, a check of Letta at start-up (that
 * it answers, accepts the credentials and has `LETTA_AGENT_ID`; a warning per failure, never a refusal to start), and a
 * graceful shutdown that stops accepting connections and lets open streams finish for `PIPELINE_SHUTDOWN_GRACE` before
 * cutting them.
 *
 * @since 0.1.0
 */
import { Etag, FileSystem, HttpLayerRouter, HttpPlatform, HttpServer, type HttpServerError, Path } from "@effect/platform"
import { LettaCheck, type LettaClient, LettaConfig, type Pipeline } from "@letta-pipeline/core"
import { HoldingHttpServer } from "@letta-pipeline/core/node"
import { type ConfigError, Context, Duration, Effect, Either, Fiber, Layer, Option, Scope } from "effect"
import { createServer, type Server as NodeServer } from "node:http"
import * as ChatThreads from "./ChatThreads.js"
import type * as ConversationStore from "./ConversationStore.js"
import * as ChatTurn from "./ChatTurn.js"
import * as Metrics from "./Metrics.js"
import * as Middleware from "./Middleware.js"
import * as Models from "./Models.js"
import * as NativeRoutes from "./NativeRoutes.js"
import * as OpenAiRoutes from "./OpenAiRoutes.js"
import * as OpsRoutes from "./OpsRoutes.js"
import * as PageRoutes from "./PageRoutes.js"
import * as PipelinesRoutes from "./PipelinesRoutes.js"
import * as ServerConfig from "./ServerConfig.js"
import * as Telemetry from "./Telemetry.js"
import * as UserAgents from "./UserAgents.js"
import * as UserAgentStore from "./UserAgentStore.js"
import * as Valves from "./Valves.js"

/** What the server needs from core. @category models */
export type Requirements =
  | Pipeline.Pipeline
  | LettaClient.LettaClient
  | LettaConfig.LettaConfig
  | ConversationStore.ConversationStore
  | UserAgentStore.UserAgentStore

const routes = Layer.mergeAll(OpenAiRoutes.layer, PipelinesRoutes.layer, NativeRoutes.layer, OpsRoutes.layer, PageRoutes.layer)

const cors = Layer.unwrapEffect(Effect.map(ServerConfig.ServerConfig, (settings) =>
  settings.corsOrigins.length === 0
    ? Layer.empty
    : HttpLayerRouter.cors({ allowedOrigins: settings.corsOrigins, allowedHeaders: ["authorization", "content-type"] })))

const services = Layer.mergeAll(Models.layer, ChatThreads.layer, UserAgents.layer).pipe(Layer.provideMerge(Valves.layer))

/**
 * The HTTP server as the routes are served on it: request fibers start from the platform's services alone, not from
 * the whole application's (27 services). A handler has what it needs from when the routes were built (`Http.Handler`);
 * a request's context is copied each time a service is provided to it (the router, the Letta call: 8 copies a turn), and
 * an open stream keeps several: small copies save about 2 KiB per open stream (`docs/benchmarks.md`).
 */
const leanRequests = Layer.effect(
  HttpServer.HttpServer,
  Effect.map(HttpServer.HttpServer, (server) =>
    HttpServer.make({
      address: server.address,
      serve: (app, middleware) =>
        Effect.mapInputContext(
          middleware === undefined ? server.serve(app) : server.serve(app, middleware),
          Context.pick(Scope.Scope, HttpPlatform.HttpPlatform, Etag.Generator, FileSystem.FileSystem, Path.Path)
        )
    }))
)

/**
 * The routes, served on whatever `HttpServer` is provided (tests use `NodeHttpServer.layerTest`).
 *
 * @category layers
 */
export const layerApp: Layer.Layer<never, never, HttpServer.HttpServer | Requirements | ServerConfig.ServerConfig> =
  HttpLayerRouter.serve(Layer.mergeAll(routes, cors), {
    disableListenLog: true,
    // the access log of our own, in place of the platform's (see Middleware.accessLog)
    disableLogger: true,
    middleware: Middleware.accessLog
  }).pipe(
    Layer.provide(leanRequests),
    Layer.provide(ChatTurn.ChatTurn.layer),
    Layer.provide(services),
    Layer.provide(Metrics.layer),
    // below the server, so that request fibers and the Letta calls in them are traced
    Layer.provide(Telemetry.layer)
  )

/** Stops accepting, waits for open connections up to `grace`, then cuts the rest. */
const drain = (server: NodeServer, grace: Duration.Duration) =>
  Effect.gen(function*() {
    yield* Effect.logInfo(`Shutting down: waiting up to ${Duration.format(grace)} for open streams`)
    yield* Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
      server.closeIdleConnections()
    }).pipe(
      // finalizers run uninterruptibly; the wait must be interruptible for the timeout to end it
      Effect.interruptible,
      Effect.timeout(grace),
      Effect.catchTag("TimeoutException", () =>
        Effect.zipRight(
          Effect.logWarning("Shutdown grace period over: closing the remaining streams"),
          Effect.sync(() => server.closeAllConnections())
        ))
    )
  })

/** @category models */
export interface Options {
  readonly port: number
  readonly host: string
}

/** How long the "Listening" line waits for the start-up check of Letta; the routes serve meanwhile. */
const lettaCheckWait = Duration.seconds(2)

const consequences: Record<LettaCheck.Step, string> = {
  reachable: "The server runs anyway: turns fail, and /ready answers 503 with the reason, until Letta answers",
  credentials: "The server runs anyway: turns fail, and /ready answers 503 with the reason, until Letta accepts them",
  agent: "The server runs anyway: requests that name no agent fail until it exists"
}

/**
 * Checks Letta once at start-up (`LettaCheck.all`): one warning for what fails, with what to fix, or one line saying
 * all is well. Never fails: Letta may come up later, and `/ready` asks again each time.
 */
const checkLetta: Effect.Effect<void, never, LettaClient.LettaClient | LettaConfig.LettaConfig> = Effect.gen(function*() {
  const letta = yield* LettaConfig.LettaConfig
  const outcome = yield* Effect.either(LettaCheck.all)
  if (Either.isRight(outcome)) {
    const { agent, health } = outcome.right
    return yield* Effect.logInfo(
      `Letta ${health.version} at ${letta.baseUrl} answers and accepts the credentials` +
        Option.match(agent, { onNone: () => "", onSome: (a) => `; agent ${a.name} (${a.id}) found` })
    )
  }
  const failure = outcome.left
  // Letta's own words may already say what to do (a refused key names LETTA_API_KEY)
  const advice = failure.error.message.includes(failure.fix) ? "" : `; fix: ${failure.fix}`
  return yield* Effect.logWarning(`Letta check (${failure.step}) failed: ${failure.error.message}${advice}. ${consequences[failure.step]}`)
})

const announce = Layer.scopedDiscard(Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  const settings = yield* ServerConfig.ServerConfig
  const address = server.address
  const url = address._tag === "TcpAddress" ? `http://${address.hostname}:${address.port}` : "unix socket"
  const key = Option.isSome(settings.apiKey) ? "the value of PIPELINE_API_KEY" : "any value (PIPELINE_API_KEY is not set)"
  // the routes already serve: the check runs beside them, and "Listening" waits for it only briefly, so that its
  // findings come first in the log and its calls to Letta are over before a client's, unless Letta is slow to answer
  const check = yield* Effect.forkScoped(checkLetta)
  yield* Effect.timeoutOption(Fiber.await(check), lettaCheckWait)
  yield* Effect.logInfo(`Listening on ${url}`)
  yield* Effect.logInfo(`Chat page: open ${url}/ in a browser`)
  yield* Effect.logInfo(
    `Open WebUI: Admin Settings → Connections → add an OpenAI API connection with URL ${url}/v1 (or, for the Pipelines admin page and valves, one with URL ${url}) and key ${key}`
  )
}))

/**
 * Serves on a port, with graceful shutdown; settings from the environment. Once the routes serve, Letta is checked
 * (`LettaCheck.all`): a warning per failure, logged before `Listening on …` unless the check takes longer than
 * 2 seconds (it then goes on beside the server).
 *
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<HttpServer.HttpServer, HttpServerError.ServeError | ConfigError.ConfigError, Requirements> =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const node = createServer()
    // Idle keep-alive connections stay open longer than the clients' own idle timeouts (undici 4 s, aiohttp 15 s,
    // load balancers 60 s), so that the client closes them first: a server that closes one while a request is on its
    // way (likelier the busier it is) makes that request fail with a reset. Node's default is 5 s.
    node.keepAliveTimeout = 65_000
    node.headersTimeout = 66_000
    const settings = yield* ServerConfig.ServerConfig
    // built once the routes are served, so released before them: open streams finish while the routes still serve,
    // then the server's own close finds it stopped. A start-up that fails earlier does not drain, so the requests held
    // meanwhile get their 503 at once instead of being cut after the grace period.
    const graceful = Layer.scopedDiscard(Effect.addFinalizer(() => drain(node, settings.shutdownGrace)))
    // "Listening" is announced once the routes are served; the port opens before, and what reaches it in between is
    // held until they are (HoldingHttpServer)
    return Layer.provide(Layer.merge(announce, graceful), layerApp).pipe(
      Layer.provideMerge(HoldingHttpServer.layer(() => node, { port: options.port, host: options.host })),
      Layer.provide(Layer.succeed(ServerConfig.ServerConfig, settings))
    )
  })).pipe(Layer.provide(ServerConfig.layerConfig))
