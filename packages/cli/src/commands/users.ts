/**
 * `letta-pipeline users`: each user's own agent of the per-user models (`PIPELINE_USER_MODE`,
 * `PIPELINE_PER_USER_MODELS`), from the user → agent map the server keeps beside its chat map (`PIPELINE_STORE`,
 * `DATABASE_URL`, `PIPELINE_DATA_DIR`, as for `serve`). `list` shows them; `reset` gives a user a new agent from the
 * template as it is now. Also the per-user rule of `chat --user`, the server's own (`UserAgents`).
 */
import { Args, Command, Options } from "@effect/cli"
import { LettaBackend, LettaClient, type LettaConfig, type LettaError } from "@letta-pipeline/core"
import { HttpTransport } from "@letta-pipeline/core/node"
import { ChatUser, ConversationStore, Metrics, ServerConfig, UserAgents, type UserAgentStore, Valves } from "@letta-pipeline/server"
import { type ConfigError, Data, DateTime, Effect, Layer, Logger, LogLevel, Option, Schema } from "effect"
import * as Display from "../Display.js"
import * as Connection from "./connection.js"

/** A per-user model was chosen without `--user`: no agent can answer (never the template itself). */
export class UserRequired extends Data.TaggedError("UserRequired")<{ readonly model: string }> {
  override get message() {
    return `The model ${this.model} is per-user (PIPELINE_USER_MODE / PIPELINE_PER_USER_MODELS): ` +
      "pass --user <id> to talk to that user's own agent"
  }
}

/** `--user` is not a user id, by the server's rule for one. */
export class InvalidUser extends Data.TaggedError("InvalidUser")<{ readonly user: string }> {
  override get message() {
    return `--user ${JSON.stringify(this.user)} is not a user id: 1 to ${ChatUser.maxChars} characters, ` +
      "no control characters or surrounding spaces"
  }
}

/**
 * The store `serve` would use: the configured one, or, over the built-in emulator, memory (the emulator's agents are
 * gone at exit, so a lasting map would point at nothing).
 */
export const store = (embedded: boolean): Layer.Layer<UserAgentStore.UserAgentStore, LettaError.StoreError | ConfigError.ConfigError> =>
  embedded ? ConversationStore.layerMemory : ConversationStore.layerConfig

/** `UserAgents` over `userStore`, with the valves of the environment (as the server starts them) and the Letta of the context. */
export const layer = <E>(userStore: Layer.Layer<UserAgentStore.UserAgentStore, E>) =>
  UserAgents.layer.pipe(
    Layer.provide(Layer.mergeAll(Valves.layer.pipe(Layer.provide(ServerConfig.layerConfig)), userStore, Metrics.layer))
  )

/** The user of `--user`, checked as the server checks a user id a client sends. */
export const userOf = (id: string): Effect.Effect<ChatUser.User, InvalidUser> =>
  ChatUser.fromRequest(Option.none(), {}, { user: id }).pipe(
    Effect.flatMap(Option.match({ onNone: () => Effect.fail(new InvalidUser({ user: id })), onSome: Effect.succeed })),
    Effect.catchTag("UserRefused", () => Effect.fail(new InvalidUser({ user: id })))
  )

/**
 * The agent that answers a chat with `model` (as given), resolved to `templateId`: that agent itself for a shared model
 * (`user` ignored), else the user's own agent, made from the template on first use and recorded in the store.
 */
export const answering = (model: string, templateId: string, user: Option.Option<string>, embedded: boolean) =>
  Effect.gen(function*() {
    // the check reads the valves alone: the store (a file or a database) is opened only for a per-user model
    const perUser = yield* Effect.flatMap(UserAgents.UserAgents, (agents) => agents.isPerUser(model, templateId)).pipe(
      Effect.provide(layer(ConversationStore.layerMemory))
    )
    if (!perUser) return templateId
    if (Option.isNone(user)) return yield* new UserRequired({ model })
    const chatUser = yield* userOf(user.value)
    return yield* Effect.flatMap(UserAgents.UserAgents, (agents) => agents.agentFor(templateId, chatUser)).pipe(
      Effect.provide(layer(store(embedded)))
    )
  })

const connectionFlags = {
  baseUrl: Connection.flags.baseUrl,
  apiKey: Connection.flags.apiKey,
  password: Connection.flags.password
}

const model = Options.text("model").pipe(
  Options.withDescription("The per-user model: its template agent, by id (agent-…) or by name")
)

/** One entry of `users list --json`. */
const Row = Schema.Struct({
  template_id: Schema.String,
  template_name: Schema.NullOr(Schema.String),
  user_id: Schema.String,
  /** null while the agent's creation is under way */
  agent_id: Schema.NullOr(Schema.String),
  created_at: Schema.String
})
const encodeRow = Schema.encodeSync(Schema.parseJson(Row))

/** The Letta of the flags, with the template of `--model` resolved to its id (as `--agent` is). */
const connectTo = (given: Omit<Connection.Flags, "agent"> & { readonly model: Option.Option<string> }) =>
  Connection.connect({ ...given, agent: given.model }, Option.isSome(given.model) ? "resolve" : "ignore")

const backend = (settings: LettaConfig.Settings) => LettaBackend.layerSettings(settings).pipe(Layer.provide(HttpTransport.layer(settings)))

const list = Command.make("list", {
  ...connectionFlags,
  model: model.pipe(Options.withDescription("Only the users' agents of this template, by id (agent-…) or by name"), Options.optional),
  json: Options.boolean("json").pipe(Options.withDescription("One JSON object per line"))
}, (given) =>
  Effect.gen(function*() {
    const { embedded, settings } = yield* connectTo(given)
    const templateId = given.model.pipe(Option.flatMap(() => settings.agentId))
    const entries = (yield* Effect.flatMap(UserAgents.UserAgents, (agents) => agents.list).pipe(
      Effect.provide(layer(store(embedded)).pipe(Layer.provideMerge(backend(settings))))
    )).filter((entry) => Option.match(templateId, { onNone: () => true, onSome: (id) => entry.templateId === id }))
    if (entries.length === 0) {
      return yield* Display.stdout(
        `No user has an agent yet${Option.isSome(templateId) ? ` of ${templateId.value}` : ""}. A user's first chat with a ` +
          "per-user model makes one (per-user mode: PIPELINE_USER_MODE=per-user, or the model in PIPELINE_PER_USER_MODELS).\n"
      )
    }
    // the templates' names when Letta answers; the ids alone otherwise
    const names = yield* Effect.flatMap(LettaClient.LettaClient, (client) => client.listAgents()).pipe(
      Effect.map((agents) => new Map(agents.map((agent) => [agent.id, agent.name]))),
      Effect.provide(backend(settings)),
      Effect.orElseSucceed(() => new Map<string, string>())
    )
    const rows = entries.map((entry) => ({
      template_id: entry.templateId,
      template_name: names.get(entry.templateId) ?? null,
      user_id: entry.userId,
      agent_id: entry.agentId,
      created_at: DateTime.formatIso(DateTime.unsafeMake(entry.createdAt))
    }))
    if (given.json) return yield* Display.stdout(rows.map((row) => `${encodeRow(row)}\n`).join(""))
    yield* Display.stdout(Display.table([
      ["USER", "AGENT", "TEMPLATE", "TEMPLATE ID", "CREATED"],
      ...rows.map((row) => [row.user_id, row.agent_id ?? "(being created)", row.template_name ?? "?", row.template_id, row.created_at])
    ]))
  }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))).pipe(
    Command.withDescription("Every user's own agent: user, agent, template, when it was made")
  )

const reset = Command.make("reset", {
  user: Args.text({ name: "user id" }).pipe(Args.withDescription("The user whose agent to replace")),
  ...connectionFlags,
  model,
  deletePrevious: Options.boolean("delete-previous").pipe(
    Options.withDescription("Delete the user's previous agent from Letta (kept by default)")
  )
}, (given) =>
  Effect.gen(function*() {
    const { embedded, settings } = yield* connectTo({ ...given, model: Option.some(given.model) })
    const templateId = Option.getOrElse(settings.agentId, () => given.model)
    const user = yield* userOf(given.user)
    const done = yield* Effect.flatMap(
      UserAgents.UserAgents,
      (agents) => agents.reset(templateId, user, { deletePrevious: given.deletePrevious })
    ).pipe(Effect.provide(layer(store(embedded)).pipe(Layer.provideMerge(backend(settings)))))
    const previous = Option.match(done.previous, {
      onNone: () => "no previous agent",
      onSome: (id) =>
        done.deleted
          ? `previous agent ${id} deleted from Letta`
          : given.deletePrevious
          ? `previous agent ${id} was already gone from Letta`
          : `previous agent ${id} kept in Letta (--delete-previous deletes it)`
    })
    yield* Display.stdout(`User ${user.id}: new agent ${done.agentId} from the template ${templateId}; ${previous}\n`)
  }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))).pipe(
    Command.withDescription("Give a user a new agent from the template as it is now, replacing their current one")
  )

export const users = Command.make("users").pipe(
  Command.withDescription("Each user's own agent of the per-user models (PIPELINE_USER_MODE, PIPELINE_PER_USER_MODELS)"),
  Command.withSubcommands([list, reset])
)

/** The usage of every subcommand, for telling an unknown option. */
export const subcommandUsages = [Command.getUsage(list), Command.getUsage(reset)]
