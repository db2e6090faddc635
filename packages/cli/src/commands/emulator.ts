/**
 * `letta-pipeline emulator`: the emulated Letta server on its own.
 */
import { Command } from "@effect/cli"
import { Emulator, EmulatorConfig } from "@letta-pipeline/emulator"
import { Effect, Layer } from "effect"
import { host, port } from "./options.js"

export const emulator = Command.make("emulator", { port: port(8283), host }, (options) =>
  Layer.launch(
    Emulator.announce.pipe(
      Layer.provide(Layer.unwrapEffect(Effect.map(EmulatorConfig.config, (settings) =>
        Emulator.layer({ ...settings, port: options.port, host: options.host }))))
    )
  )).pipe(Command.withDescription("Run the emulated Letta server (offline, deterministic)"))
