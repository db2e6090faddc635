/**
 * Options shared by the commands that listen on a port. `--port` and `--host` win over `PORT` and `HOST`; an empty
 * variable is unset, and a wrong one is named in one line (as every setting), when the command starts.
 */
import { Options } from "@effect/cli"
import { EnvConfig } from "@letta-pipeline/core"
import { Config, Effect, Option } from "effect"

export const port = (fallback: number) =>
  Options.integer("port").pipe(Options.withDescription(`Port to listen on (env PORT, default ${fallback})`), Options.optional)

export const host = Options.text("host").pipe(
  Options.withDescription("Interface to listen on (env HOST, default 127.0.0.1)"),
  Options.optional
)

/** Where to listen: the flags, else `PORT` and `HOST`, else `fallback` on 127.0.0.1. */
export const listenOn = (
  given: { readonly port: Option.Option<number>; readonly host: Option.Option<string> },
  fallback: number
) =>
  Effect.all({
    port: Option.match(given.port, {
      onSome: Effect.succeed,
      onNone: () =>
        EnvConfig.load(
          Config.integer("PORT").pipe(
            Config.validate({ message: "expected a port number from 0 to 65535", validation: (n) => n >= 0 && n <= 65535 }),
            Config.withDefault(fallback)
          )
        )
    }),
    host: Option.match(given.host, {
      onSome: Effect.succeed,
      onNone: () => EnvConfig.load(Config.string("HOST").pipe(Config.withDefault("127.0.0.1")))
    })
  })
