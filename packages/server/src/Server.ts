/**
 * The HTTP server: the routes served on a port by Node's `http` module.
 *
 * @since 0.1.0
 */
import { HttpLayerRouter, type HttpServerError } from "@effect/platform"
import type { Pipeline } from "@letta-pipeline/core"
import { NodeHttpServer } from "@effect/platform-node"
import { Layer } from "effect"
import { createServer } from "node:http"
import * as Routes from "./Routes.js"

/** @category models */
export interface Options {
  readonly port: number
  readonly host: string
}

/**
 * Serves every route; needs a `Pipeline`.
 *
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<never, HttpServerError.ServeError, Pipeline.Pipeline> =>
  HttpLayerRouter.serve(Routes.routes).pipe(
    Layer.provide(NodeHttpServer.layer(createServer, { port: options.port, host: options.host }))
  )
