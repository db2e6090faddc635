/**
 * Which Letta a command talks to. Flags override the Letta connection settings of the environment: they become config
 * entries in front of it, so one set of validation rules (`LettaConfig.config`) covers both. With no Letta named
 * (neither `--base-url` nor a non-empty `LETTA_BASE_URL`), every command uses an emulated Letta in this process, with
 * its demo agent, and says so on stderr. `--agent` (or `LETTA_AGENT_ID`) takes an agent id or an agent's name.
 */
import { Options } from "@effect/cli"
import type { HttpServerError } from "@effect/platform"
import { EnvConfig, LettaBackend, LettaClient, LettaConfig, LettaError, LettaSchema } from "@letta-pipeline/core"
import { HttpTransport } from "@letta-pipeline/core/node"
import { Emulator } from "@letta-pipeline/emulator"
import { Config, type ConfigError, ConfigProvider, Context, Duration, Effect, Layer, Option, Redacted, type Scope } from "effect"
import * as Display from "../Display.js"

export const flags = {
  baseUrl: Options.text("base-url").pipe(
    Options.withDescription(
      "Letta to talk to: http(s)://… for Letta Cloud or a Letta server, ws://… for a Letta App Server (env " +
        "LETTA_BASE_URL; without either, a built-in emulated Letta with a demo agent)"
    ),
    Options.optional
  ),
  apiKey: Options.redacted("api-key").pipe(
    Options.withDescription("Bearer key for Letta Cloud, a secured Letta server or an App Server (env LETTA_API_KEY)"),
    Options.optional
  ),
  password: Options.redacted("password").pipe(
    Options.withDescription("Password of a self-hosted Letta started with --secure (env LETTA_PASSWORD)"),
    Options.optional
  ),
  agent: Options.text("agent").pipe(
    Options.withDescription("The agent to talk to, by id (agent-…) or by name; `letta-pipeline agents` lists them (env LETTA_AGENT_ID)"),
    Options.optional
  )
}

export interface Flags {
  readonly baseUrl: Option.Option<string>
  readonly apiKey: Option.Option<Redacted.Redacted>
  readonly password: Option.Option<Redacted.Redacted>
  readonly agent: Option.Option<string>
}

/** The settings of `LETTA_*` with the flags in front. */
export const settings = (given: Flags) => {
  const entries: Array<[string, string]> = []
  if (Option.isSome(given.baseUrl)) entries.push(["LETTA_BASE_URL", given.baseUrl.value])
  if (Option.isSome(given.apiKey)) entries.push(["LETTA_API_KEY", Redacted.value(given.apiKey.value)])
  if (Option.isSome(given.password)) entries.push(["LETTA_PASSWORD", Redacted.value(given.password.value)])
  if (Option.isSome(given.agent)) entries.push(["LETTA_AGENT_ID", given.agent.value])
  return Effect.withConfigProvider(
    LettaConfig.config,
    ConfigProvider.fromMap(new Map(entries)).pipe(ConfigProvider.orElse(() => ConfigProvider.fromEnv()))
  )
}

/** `LETTA_BASE_URL` when set (blank counts as unset, as for every setting: `EnvConfig.load`). */
export const configuredBaseUrl = EnvConfig.load(Config.option(Config.string("LETTA_BASE_URL")))

/** The emulated Letta of a command that names none (a token every 15 ms, as a model would stream). */
export const embeddedEmulator = Emulator.layer({ tokenDelay: Duration.millis(15) })

/** The line that says a command uses the emulator, and how to use a real Letta instead. */
export const embeddedNotice = (emulator: Emulator.Service) =>
  `LETTA_BASE_URL is not set: using the built-in emulated Letta (offline, scripted answers) at ${emulator.url}, ` +
  `with its demo agent ${emulator.demoAgent.name} (${emulator.demoAgent.id}). Set LETTA_BASE_URL (or --base-url) to ` +
  "use your Letta."

export interface Connection {
  readonly settings: LettaConfig.Settings
  /** No Letta was named: the built-in emulator answers. */
  readonly embedded: boolean
}

/**
 * The Letta of a command: the configured one, or an emulator alive for the command's scope. An agent given by name is
 * resolved to its id here (one listing of the agents), so that everything after works with ids; a value shaped like an
 * id (`agent-…`) is checked as one, never looked up; a command that needs no agent passes `"ignore"`.
 *
 * Fails with a `ConfigError` for an invalid setting; a `LettaError` `InvalidId` for a malformed id, `InvalidRequest`
 * when no agent, or more than one, has the given name; the listing's own failures.
 */
export const connect = (given: Flags, agent: "resolve" | "ignore" = "resolve"): Effect.Effect<
  Connection,
  LettaError.PipelineError | ConfigError.ConfigError | HttpServerError.ServeError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const fromEnv = yield* settings(given)
    const named = Option.isSome(given.baseUrl) && !EnvConfig.isBlank(given.baseUrl.value) ? given.baseUrl : yield* configuredBaseUrl
    const chosen = Option.isSome(named)
      ? fromEnv
      : yield* Effect.gen(function*() {
        const emulator = Context.get(yield* Layer.build(embeddedEmulator), Emulator.Emulator)
        yield* Display.stderr(`${embeddedNotice(emulator)}\n`)
        return {
          ...fromEnv,
          baseUrl: emulator.url,
          agentId: Option.orElse(fromEnv.agentId, () => Option.some(emulator.demoAgent.id))
        } satisfies LettaConfig.Settings
      })
    const embedded = Option.isNone(named)
    if (agent === "ignore" || Option.isNone(chosen.agentId)) return { settings: chosen, embedded }
    const name = chosen.agentId.value
    // shaped like an id (as the server's model rule): a valid one, or refused before any call to Letta
    if (looksLikeId(name)) return { settings: { ...chosen, agentId: Option.some(yield* LettaClient.checkAgentId(name)) }, embedded }
    const id = yield* Effect.flatMap(LettaClient.LettaClient, (client) => client.listAgents()).pipe(
      Effect.flatMap((agents) => agentByName(agents, name, chosen.baseUrl)),
      Effect.provide(LettaBackend.layerSettings(chosen).pipe(Layer.provide(HttpTransport.layer(chosen))))
    )
    return { settings: { ...chosen, agentId: Option.some(id) }, embedded }
  })

/** The id of the one agent of `agents` with this name (as the server resolves a model given by name). */
export const agentByName = (
  agents: ReadonlyArray<LettaSchema.AgentState>,
  name: string,
  baseUrl: string
): Effect.Effect<string, LettaError.LettaError> => {
  const found = agents.filter((agent) => agent.name === name)
  const [first] = found
  if (first === undefined) {
    return Effect.fail(
      new LettaError.LettaError({
        reason: "InvalidRequest",
        detail: `no agent is named ${JSON.stringify(name)} on the Letta at ${baseUrl}; ` +
          "`letta-pipeline agents` lists their names and ids"
      })
    )
  }
  if (found.length > 1) {
    return Effect.fail(
      new LettaError.LettaError({
        reason: "InvalidRequest",
        detail: `${found.length} agents are named ${JSON.stringify(name)} (${found.map((a) => a.id).join(", ")}): pass the id instead`
      })
    )
  }
  return Effect.succeed(first.id)
}

/** Whether a value is meant as an agent id rather than a name: it starts with `agent-` (a valid id or not). */
export const looksLikeId = (value: string): boolean => value.startsWith("agent-")
