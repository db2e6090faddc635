/**
 * `@letta-pipeline/emulator`: an offline, spec-faithful Letta server.
 *
 * @since 0.1.0
 */
export * as ArmedFaults from "./ArmedFaults.js"
export * as Emulator from "./Emulator.js"
export * as EmulatorConfig from "./EmulatorConfig.js"
export * as Fault from "./Fault.js"
export * as Middleware from "./Middleware.js"
export * as Requests from "./Requests.js"
export * as RouteError from "./RouteError.js"
export * as Routes from "./Routes.js"
export * as Script from "./Script.js"
export * as Stats from "./Stats.js"
export * as StubLlm from "./StubLlm.js"
export * as Store from "./Store.js"
export * as Turn from "./Turn.js"
export * as TurnRunner from "./TurnRunner.js"
export * as Wire from "./Wire.js"
