/**
 * `letta-pipeline serve`: the HTTP server over the configured Letta.
 */
import { Command, Options } from "@effect/cli"
import { Pipeline } from "@letta-pipeline/core"
import { Server } from "@letta-pipeline/server"
import { Config, Effect, Layer } from "effect"

const port = Options.integer("port").pipe(
  Options.withDescription("Port to listen on (env PORT, default 3000)"),
  Options.withFallbackConfig(Config.integer("PORT")),
  Options.withDefault(3000)
)

const host = Options.text("host").pipe(
  Options.withDescription("Interface to listen on (env HOST, default 127.0.0.1)"),
  Options.withFallbackConfig(Config.string("HOST")),
  Options.withDefault("127.0.0.1")
)

export const serve = Command.make("serve", { port, host }, (options) =>
  Layer.launch(Server.layer(options).pipe(Layer.provide(Pipeline.layerConfig))).pipe(
    Effect.zipLeft(Effect.logInfo(`Serving on http://${options.host}:${options.port}`))
  )).pipe(Command.withDescription("Serve the pipeline over HTTP"))
