/**
 * Settings of the emulated Letta server.
 *
 * | Variable | Default | Meaning |
 * |---|---|---|
 * | `EMULATOR_PORT` | `8283` (bin), `0` (in-process) | port, 0 = any free one |
 * | `EMULATOR_HOST` | `127.0.0.1` | interface |
 * | `EMULATOR_PASSWORD` | – | behave like a `--secure` server: bearer or `X-BARE-PASSWORD` required |
 * | `EMULATOR_TOKEN_SIZE` | `4` | characters per token delta |
 * | `EMULATOR_TOKEN_DELAY` | `0` | pause between deltas (token mode) or messages (step mode) |
 * | `EMULATOR_STEP_DELAY` | `0` | pause before each LLM response |
 * | `EMULATOR_KEEPALIVE` | `20` | keepalive ping interval |
 * | `EMULATOR_FAULT` | – | a fault for every request (see `Fault`) |
 * | `EMULATOR_STALL` | `600` | how long the `stall` fault keeps silent |
 * | `EMULATOR_FIRST_BYTE_DELAY` | `5` | how long `slow-first-byte` waits before answering |
 * | `EMULATOR_KEEPALIVE_TIMEOUT` | `5` | how long an idle keep-alive connection stays open (uvicorn's default, Letta's server) |
 * | `EMULATOR_WIND_DOWN` | `0.5` | how long a run whose client left (a stopped turn) takes to end, as Letta's cancellation does; a message to its conversation meanwhile gets Letta's 409 |
 *
 * @since 0.1.0
 */
import { LettaConfig } from "@letta-pipeline/core"
import { Config, type ConfigError, Context, Duration, Either, Layer, Option, type Redacted } from "effect"
import * as Fault from "./Fault.js"

/** @category models */
export interface Settings {
  readonly port: number
  readonly host: string
  readonly password: Option.Option<Redacted.Redacted>
  readonly tokenSize: number
  readonly tokenDelay: Duration.Duration
  readonly stepDelay: Duration.Duration
  readonly keepalive: Duration.Duration
  readonly fault: Option.Option<Fault.Fault>
  readonly stall: Duration.Duration
  readonly firstByteDelay: Duration.Duration
  readonly windDown: Duration.Duration
  readonly keepAliveTimeout: Duration.Duration
}

/** @category services */
export class EmulatorConfig extends Context.Tag("@letta-pipeline/emulator/EmulatorConfig")<EmulatorConfig, Settings>() {}

/** @category constructors */
export const defaults: Settings = {
  port: 0,
  host: "127.0.0.1",
  password: Option.none(),
  tokenSize: 4,
  tokenDelay: Duration.zero,
  stepDelay: Duration.zero,
  keepalive: Duration.seconds(20),
  fault: Option.none(),
  stall: Duration.minutes(10),
  firstByteDelay: Duration.seconds(5),
  windDown: Duration.millis(500),
  keepAliveTimeout: Duration.seconds(5)
}

/** @category constructors */
export const make = (options: Partial<Settings> = {}): Settings => ({ ...defaults, ...options })

/** @category constructors */
export const config: Config.Config<Settings> = Config.all({
  port: Config.port("EMULATOR_PORT").pipe(Config.withDefault(8283)),
  host: Config.string("EMULATOR_HOST").pipe(Config.withDefault(defaults.host)),
  password: Config.option(Config.redacted("EMULATOR_PASSWORD")),
  tokenSize: Config.integer("EMULATOR_TOKEN_SIZE").pipe(
    Config.validate({ message: "EMULATOR_TOKEN_SIZE: expected at least 1", validation: (n) => n >= 1 }),
    Config.withDefault(defaults.tokenSize)
  ),
  tokenDelay: LettaConfig.duration("EMULATOR_TOKEN_DELAY").pipe(Config.withDefault(defaults.tokenDelay)),
  stepDelay: LettaConfig.duration("EMULATOR_STEP_DELAY").pipe(Config.withDefault(defaults.stepDelay)),
  keepalive: LettaConfig.duration("EMULATOR_KEEPALIVE").pipe(Config.withDefault(defaults.keepalive)),
  fault: Config.option(
    Config.string("EMULATOR_FAULT").pipe(
      Config.mapOrFail((text) =>
        Option.match(Fault.parse(text), { onNone: () => Fault.invalid(text), onSome: Either.right })
      )
    )
  ),
  stall: LettaConfig.duration("EMULATOR_STALL").pipe(Config.withDefault(defaults.stall)),
  firstByteDelay: LettaConfig.duration("EMULATOR_FIRST_BYTE_DELAY").pipe(Config.withDefault(defaults.firstByteDelay)),
  windDown: LettaConfig.duration("EMULATOR_WIND_DOWN").pipe(Config.withDefault(defaults.windDown)),
  keepAliveTimeout: LettaConfig.duration("EMULATOR_KEEPALIVE_TIMEOUT").pipe(Config.withDefault(defaults.keepAliveTimeout))
})

/** @category layers */
export const layer = (options: Partial<Settings> = {}): Layer.Layer<EmulatorConfig> =>
  Layer.succeed(EmulatorConfig, make(options))

/** @category layers */
export const layerConfig: Layer.Layer<EmulatorConfig, ConfigError.ConfigError> = Layer.effect(EmulatorConfig, config)
