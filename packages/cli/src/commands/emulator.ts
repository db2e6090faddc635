/**
 * `letta-pipeline emulator`: the emulated Letta server on its own.
 */
import { Command } from "@effect/cli"
import { Emulator, EmulatorConfig } from "@letta-pipeline/emulator"
import { Effect, Layer } from "effect"
import { host, listenOn, port } from "./options.js"

export const emulator = Command.make("emulator", { port: port(8283), host }, (options) =>
  Layer.launch(
    Emulator.announce.pipe(
      Layer.provide(Layer.unwrapEffect(Effect.map(
        Effect.all([EmulatorConfig.config, listenOn(options, 8283)]),
        ([settings, where]) => Emulator.layer({ ...settings, ...where })
      )))
    )
  )).pipe(Command.withDescription("Run the emulated Letta server (offline, deterministic)"))
