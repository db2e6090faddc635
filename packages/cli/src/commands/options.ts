/**
 * Options shared by the commands that listen on a port.
 */
import { Options } from "@effect/cli"
import { Config } from "effect"

export const port = (fallback: number) =>
  Options.integer("port").pipe(
    Options.withDescription(`Port to listen on (env PORT, default ${fallback})`),
    Options.withFallbackConfig(Config.integer("PORT")),
    Options.withDefault(fallback)
  )

export const host = Options.text("host").pipe(
  Options.withDescription("Interface to listen on (env HOST, default 127.0.0.1)"),
  Options.withFallbackConfig(Config.string("HOST")),
  Options.withDefault("127.0.0.1")
)
