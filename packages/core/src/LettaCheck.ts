/**
 * The checks of a Letta connection, shared by `letta-pipeline doctor`, the server's start-up and its `/ready`: that
 * Letta answers (`GET /v1/health/`, which needs no credentials), that it accepts the credentials (`GET /v1/agents/`,
 * which does), and that the configured agent exists (`GET /v1/agents/{id}`). Each failure says what to fix.
 *
 * @since 0.1.0
 */
import { Effect, Option, Schema } from "effect"
import * as LettaClient from "./LettaClient.js"
import * as LettaConfig from "./LettaConfig.js"
import { PipelineError } from "./LettaError.js"
import type * as LettaSchema from "./LettaSchema.js"

/**
 * Which check: `reachable` (Letta answers), `credentials` (it accepts them), `agent` (`LETTA_AGENT_ID` exists).
 *
 * @category models
 */
export const Step = Schema.Literal("reachable", "credentials", "agent")
/** @category models */
export type Step = typeof Step.Type

/**
 * A check failed: which one, Letta's failure, and what to fix.
 *
 * @category errors
 */
export class CheckFailed extends Schema.TaggedError<CheckFailed>("@letta-pipeline/core/CheckFailed")("CheckFailed", {
  step: Step,
  error: PipelineError,
  /** What to change, in words (`set LETTA_API_KEY …`). */
  fix: Schema.String
}) {
  /** `<step>: <the failure's message>`, e.g. `credentials: Letta refused the credentials: … (HTTP 401, …)`. */
  override get message(): string {
    return `${this.step}: ${this.error.message}`
  }
}

/**
 * Whether Letta refused the credentials (401, 403), rather than failing otherwise.
 *
 * @category refinements
 */
export const isRefused = (error: PipelineError): boolean =>
  error._tag === "LettaError" && (error.reason === "Unauthorized" || error.reason === "Forbidden")

/**
 * Letta answers its health check. Fails with the transport, TLS or status failure and how to start Letta or point
 * `LETTA_BASE_URL` at it.
 *
 * @category constructors
 */
export const reachable: Effect.Effect<
  LettaSchema.Health,
  CheckFailed,
  LettaClient.LettaClient | LettaConfig.LettaConfig
> = Effect.gen(function*() {
  const client = yield* LettaClient.LettaClient
  const settings = yield* LettaConfig.LettaConfig
  return yield* Effect.mapError(client.health, (error) =>
    new CheckFailed({
      step: "reachable",
      error,
      fix: `start Letta (e.g. docker run -p 8283:8283 letta/letta) or point LETTA_BASE_URL at it (now ${settings.baseUrl}); ` +
        "unset LETTA_BASE_URL to try the built-in emulated Letta"
    }))
}).pipe(Effect.withSpan("LettaCheck.reachable"))

/**
 * Letta accepts the credentials: the agents they see (every page, or at most `limit`, one request, when given).
 * Fails naming `LETTA_API_KEY` / `LETTA_PASSWORD` when Letta refuses them ({@link isRefused}).
 *
 * @category constructors
 */
export const credentials = (
  options: { readonly limit?: number | undefined } = {}
): Effect.Effect<ReadonlyArray<LettaSchema.AgentState>, CheckFailed, LettaClient.LettaClient> =>
  Effect.flatMap(LettaClient.LettaClient, (client) =>
    Effect.mapError(client.listAgents(options.limit === undefined ? {} : { limit: options.limit }), (error) =>
      new CheckFailed({
        step: "credentials",
        error,
        fix: isRefused(error)
          ? "set LETTA_API_KEY (Letta Cloud, or a key your server accepts) or LETTA_PASSWORD (self-hosted --secure)"
          : "see the error above"
      }))).pipe(Effect.withSpan("LettaCheck.credentials"))

/**
 * The agent of this id exists (and the credentials may see it).
 *
 * @category constructors
 */
export const agent = (agentId: string): Effect.Effect<LettaSchema.AgentState, CheckFailed, LettaClient.LettaClient> =>
  Effect.flatMap(LettaClient.LettaClient, (client) =>
    Effect.mapError(client.getAgent(agentId), (error) =>
      new CheckFailed({
        step: "agent",
        error,
        fix: isRefused(error)
          ? "the credentials may not use this agent: use a key of its project or organization"
          : "set LETTA_AGENT_ID (or --agent) to an id or name that `letta-pipeline agents` lists"
      }))).pipe(Effect.withSpan("LettaCheck.agent"))

/**
 * Ready to serve: Letta answers and accepts the credentials (one agent listed, a cheap call). What `/ready` asks.
 *
 * @category constructors
 */
export const ready: Effect.Effect<
  LettaSchema.Health,
  CheckFailed,
  LettaClient.LettaClient | LettaConfig.LettaConfig
> = Effect.tap(reachable, () => credentials({ limit: 1 }))

/**
 * What {@link all} found.
 *
 * @category models
 */
export interface Report {
  readonly health: LettaSchema.Health
  /** `LETTA_AGENT_ID`'s agent, when it is set. */
  readonly agent: Option.Option<LettaSchema.AgentState>
}

/**
 * Every check in order, each only once the one before passed: {@link reachable}, {@link credentials} (one agent),
 * then {@link agent} for `LETTA_AGENT_ID` when it is set. Fails with the first failure.
 *
 * @category constructors
 */
export const all: Effect.Effect<Report, CheckFailed, LettaClient.LettaClient | LettaConfig.LettaConfig> = Effect.gen(
  function*() {
    const settings = yield* LettaConfig.LettaConfig
    const health = yield* ready
    const configured = Option.isSome(settings.agentId) ? Option.some(yield* agent(settings.agentId.value)) : Option.none()
    return { health, agent: configured }
  }
)
