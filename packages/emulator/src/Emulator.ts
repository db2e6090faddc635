/**
 * The emulated Letta server as a service: where it listens and its demo agent. Served in-process by `layer` (tests,
 * the main job's default) or standalone by the `letta-emulator` bin.
 *
 * @since 0.1.0
 */
import { HttpLayerRouter, HttpServer, type HttpServerError } from "@effect/platform"
import { HoldingHttpServer } from "@letta-pipeline/core/node"
import { type ConfigError, Context, Duration, Effect, Layer } from "effect"
import { createServer } from "node:http"
import * as ArmedFaults from "./ArmedFaults.js"
import * as EmulatorConfig from "./EmulatorConfig.js"
import * as Routes from "./Routes.js"
import * as Stats from "./Stats.js"
import * as Store from "./Store.js"

/** @category models */
export interface Service {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  /** The agent every emulator starts with. */
  readonly demoAgent: Store.Agent
  readonly store: Store.Service
  readonly stats: Stats.Service
  /** Faults for the next requests. */
  readonly faults: ArmedFaults.Service
}

/** @category services */
export class Emulator extends Context.Tag("@letta-pipeline/emulator/Emulator")<Emulator, Service>() {}

/** Name of the agent every emulator starts with. @category constructors */
export const demoAgentName = "demo-agent"

/**
 * Id of the agent every emulator starts with: the same in every run, so that a command or a setting written down once
 * (`LETTA_AGENT_ID=…`) keeps working. @category constructors
 */
export const demoAgentId = "agent-a1b2c3d4-0000-4000-8000-000000000001"

const make = Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  const store = yield* Store.Store
  const demoAgent = yield* store.createAgent({
    id: demoAgentId,
    name: demoAgentName,
    description: "The emulator's demo agent: reasons, answers, and searches when asked to",
    tags: ["demo"]
    // it names no tool or identity, so nothing can be missing
  }).pipe(Effect.orDie)
  const address = server.address
  const url = address._tag === "TcpAddress"
    ? `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}`
    : `http://unix:${address.path}`
  return Emulator.of({ url, demoAgent, store, stats: yield* Stats.Stats, faults: yield* ArmedFaults.ArmedFaults })
})

const serve = (settings: EmulatorConfig.Settings) =>
  Layer.merge(HttpLayerRouter.serve(Routes.layer, {
    disableLogger: true,
    disableListenLog: true,
    // Letta (FastAPI) tells `/v1/agents` from `/v1/agents/` and redirects between them
    routerConfig: { ignoreTrailingSlash: false }
  }), Layer.effect(Emulator, make)).pipe(
    // the port opens before the routes are served: requests arriving in between are held until they are
    Layer.provide(HoldingHttpServer.layer(() => {
      const server = createServer()
      server.keepAliveTimeout = Duration.toMillis(settings.keepAliveTimeout)
      return server
    }, { port: settings.port, host: settings.host })),
    Layer.provide(
      Layer.mergeAll(Store.layer, Stats.layer, ArmedFaults.layer, Layer.succeed(EmulatorConfig.EmulatorConfig, settings))
    )
  )

/**
 * An emulator in this process; by default on a free port of 127.0.0.1.
 *
 * @category layers
 */
export const layer = (options: Partial<EmulatorConfig.Settings> = {}): Layer.Layer<Emulator, HttpServerError.ServeError> =>
  serve(EmulatorConfig.make(options))

/**
 * Logs where the emulator listens and its demo agent.
 *
 * @category layers
 */
export const announce: Layer.Layer<never, never, Emulator> = Layer.effectDiscard(Effect.gen(function*() {
  const emulator = yield* Emulator
  yield* Effect.logInfo(`Letta emulator listening on ${emulator.url}`)
  yield* Effect.logInfo(`Demo agent: ${emulator.demoAgent.id} (${emulator.demoAgent.name})`)
}))

/**
 * An emulator configured by the `EMULATOR_*` variables.
 *
 * @category layers
 */
export const layerConfig: Layer.Layer<Emulator, HttpServerError.ServeError | ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.map(EmulatorConfig.config, serve)
)
