/**
 * `letta-pipeline doctor`: checks the configuration, that Letta answers, that it accepts the credentials, that the
 * agent exists, and that a stream arrives as it is produced (not buffered by a proxy). Prints what to fix; exits 1 when
 * a check fails.
 */
import { Command, Options } from "@effect/cli"
import { EnvConfig, LettaBackend, LettaCheck, LettaClient, type LettaConfig } from "@letta-pipeline/core"
import { HttpTransport } from "@letta-pipeline/core/node"
import { Chunk, Clock, ConfigError, Data, Effect, Either, Layer, Logger, LogLevel, Option, Stream } from "effect"
import * as Display from "../Display.js"
import * as Connection from "./connection.js"

/** Some check failed; the report says which. */
export class DoctorFailed extends Data.TaggedError("DoctorFailed")<{ readonly failures: number }> {
  override get message() {
    return `${this.failures} check${this.failures === 1 ? "" : "s"} failed`
  }
}

const ok = (display: Display.Display, text: string) => Display.stdout(`${display.color ? "\x1b[32m✓\x1b[39m" : "✓"} ${text}\n`)
const warn = (display: Display.Display, text: string) => Display.stdout(`${display.color ? "\x1b[33m!\x1b[39m" : "!"} ${text}\n`)
const fail = (display: Display.Display, text: string, fix: string) =>
  Display.stdout(`${display.color ? "\x1b[31m✗\x1b[39m" : "✗"} ${text}\n    fix: ${fix}\n`)

const describeSettings = (s: LettaConfig.Settings): string =>
  `Letta at ${s.baseUrl}; auth: ${Option.isSome(s.apiKey) ? "bearer key" : Option.isSome(s.password) ? "password" : "none"}; ` +
  `agent: ${Option.getOrElse(s.agentId, () => "not set")}; TLS verification: ${s.tls.insecure ? "OFF" : "on"}` +
  (Option.isSome(s.tls.caFile) ? ` (extra CA ${s.tls.caFile.value})` : "")

/**
 * Letta sends its first frame (a ping) at once; behind a buffering proxy nothing arrives until the turn is over. A turn
 * shorter than `minimum` ms cannot tell the two apart.
 */
export const streamVerdict = (
  arrivals: ReadonlyArray<number>,
  started: number,
  minimum = 300
): "buffered" | "unbuffered" | "too-short" => {
  const first = arrivals[0]
  const last = arrivals.at(-1)
  if (first === undefined || last === undefined || last - started < minimum) return "too-short"
  return first - started >= 0.8 * (last - started) ? "buffered" : "unbuffered"
}

export const doctor = Command.make("doctor", {
  ...Connection.flags,
  skipStream: Options.boolean("skip-stream").pipe(
    Options.withDescription("Skip the streaming check (it sends one short turn into a new conversation)")
  )
}, (given) =>
  Effect.gen(function*() {
    const display = yield* Display.detect
    let failures = 0
    const failed = (text: string, fix: string) => Effect.zipRight(Effect.sync(() => void failures++), fail(display, text, fix))

    const configured = yield* Effect.either(Connection.connect(given, "ignore"))
    if (Either.isLeft(configured)) {
      yield* failed(
        `configuration: ${ConfigError.isConfigError(configured.left) ? EnvConfig.describe(configured.left) : configured.left.message}`,
        "correct the variable or flag named above (the README's Configuration section lists them all)"
      )
      return yield* new DoctorFailed({ failures })
    }
    const { embedded, settings } = configured.right
    yield* ok(display, `configuration: ${embedded ? "the built-in emulated Letta (LETTA_BASE_URL is not set): " : ""}${describeSettings(settings)}`)
    if (settings.tls.insecure) yield* warn(display, "TLS verification is off: prefer LETTA_CA_FILE")

    yield* Effect.gen(function*() {
      const client = yield* LettaClient.LettaClient
      // the checks the server also runs at start-up and for /ready
      const health = yield* Effect.either(LettaCheck.reachable)
      if (Either.isLeft(health)) return yield* failed(health.left.message, health.left.fix)
      yield* ok(display, `reachable: Letta ${health.right.version} (${health.right.status})`)

      const agents = yield* Effect.either(LettaCheck.credentials())
      if (Either.isLeft(agents)) return yield* failed(agents.left.message, agents.left.fix)
      yield* ok(display, `credentials: accepted (${agents.right.length} agent${agents.right.length === 1 ? "" : "s"} visible)`)

      if (Option.isNone(settings.agentId)) {
        return yield* warn(
          display,
          "agent: none chosen (streaming check skipped); pass --agent or set LETTA_AGENT_ID to an id or name that " +
            "`letta-pipeline agents` lists, or clients must name one"
        )
      }
      const chosen = settings.agentId.value
      const agent = yield* Effect.either(
        Connection.looksLikeId(chosen)
          ? Effect.flatMap(LettaClient.checkAgentId(chosen), (id) => client.getAgent(id))
          : Effect.flatMap(Connection.agentByName(agents.right, chosen, settings.baseUrl), (id) => client.getAgent(id))
      )
      if (Either.isLeft(agent)) {
        return yield* failed(
          `agent: ${agent.left.message}`,
          "set LETTA_AGENT_ID (or --agent) to an id or name that `letta-pipeline agents` lists"
        )
      }
      yield* ok(display, `agent: ${agent.right.name} (${agent.right.id})`)

      if (given.skipStream) return yield* warn(display, "streaming: skipped")
      const conversation = yield* Effect.either(client.createConversation(agent.right.id, { summary: "letta-pipeline doctor" }))
      if (Either.isLeft(conversation)) return yield* failed(`streaming: ${conversation.left.message}`, "see the error above")
      const started = yield* Clock.currentTimeMillis
      const arrivals = yield* client.streamConversation(conversation.right.id, {
        agent_id: agent.right.id,
        messages: [{ role: "user", content: "letta-pipeline doctor: streaming check, answer briefly" }],
        stream_tokens: true
      }).pipe(Stream.mapEffect(() => Clock.currentTimeMillis), Stream.runCollect, Effect.either)
      if (Either.isLeft(arrivals)) return yield* failed(`streaming: ${arrivals.left.message}`, "see the error above")
      const times = Chunk.toReadonlyArray(arrivals.right)
      const first = (times[0] ?? started) - started
      const total = (times.at(-1) ?? started) - started
      const figures = `${times.length} frames, first after ${first} ms, last after ${total} ms`
      switch (streamVerdict(times, started)) {
        case "buffered":
          return yield* failed(
            `streaming: buffered (${figures}): nothing arrived until the turn was over`,
            "turn off response buffering in the proxy in front of Letta (nginx: proxy_buffering off), or set LETTA_MODE=poll"
          )
        case "too-short":
          return yield* warn(display, `streaming: the turn was too short to tell buffering apart (${figures})`)
        case "unbuffered":
          return yield* ok(display, `streaming: unbuffered (${figures}; conversation ${conversation.right.id})`)
      }
    }).pipe(Effect.provide(LettaBackend.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings)))))

    if (failures > 0) return yield* new DoctorFailed({ failures })
  }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))).pipe(Command.withDescription("Check the configuration, the connection to Letta, the agent and streaming"))
