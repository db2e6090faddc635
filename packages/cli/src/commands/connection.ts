/**
 * Flags that override the Letta connection settings of the environment. They become config entries in front of the
 * environment, so one set of validation rules (`LettaConfig.config`) covers both.
 */
import { Options } from "@effect/cli"
import { LettaConfig } from "@letta-pipeline/core"
import { ConfigProvider, Effect, Option, Redacted } from "effect"

export const flags = {
  baseUrl: Options.text("base-url").pipe(Options.withDescription("Letta server (env LETTA_BASE_URL)"), Options.optional),
  apiKey: Options.redacted("api-key").pipe(Options.withDescription("Bearer key (env LETTA_API_KEY)"), Options.optional),
  password: Options.redacted("password").pipe(
    Options.withDescription("Self-hosted --secure password (env LETTA_PASSWORD)"),
    Options.optional
  ),
  agent: Options.text("agent").pipe(Options.withDescription("Agent id (env LETTA_AGENT_ID)"), Options.optional)
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
