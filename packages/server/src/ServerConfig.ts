/**
 * Settings of the HTTP server.
 *
 * | Variable | Default | Meaning |
 * |---|---|---|
 * | `PIPELINE_API_KEY` | – | bearer key required on every route but `/health` (open when unset) |
 * | `PIPELINE_ID` | `letta` | the pipeline's id in Open WebUI's Pipelines admin |
 * | `PIPELINE_CORS_ORIGINS` | – | comma-separated origins of pages allowed to call (CORS, and requests with any other `Origin` get 403); `*` for any |
 * | `PIPELINE_ALLOWED_HOSTS` | – | comma-separated host names the server may be called by (its `Host` header), besides `localhost`, IP addresses and this machine's name; `*` for any. Other names get 403: a page whose name was re-pointed at this server (DNS rebinding) is refused |
 * | `PIPELINE_MAX_BODY` | `16777216` | largest request body in bytes, and largest WebSocket message |
 * | `PIPELINE_HEARTBEAT` | `15` | SSE comment heartbeat while the agent is quiet |
 * | `PIPELINE_FIRST_EVENT_WAIT` | `2` | how long a stream waits for the first event before committing to HTTP 200 |
 * | `PIPELINE_SHUTDOWN_GRACE` | `10` | how long shutdown waits for open streams |
 * | `PIPELINE_STATUS_EVENTS` | `auto` | Open WebUI status chunks: `on`, `off`, `auto` (only for Open WebUI) |
 * | `PIPELINE_AGENT_TAGS` | – | comma-separated tags: only agents with one of them are models |
 * | `OTEL_EXPORTER_OTLP_ENDPOINT` | – | export traces over OTLP/HTTP to this endpoint |
 * | `PIPELINE_TOOL_RESULT_MAX` | `16384` | how much of a tool's result (and of its arguments) an Open WebUI tool block shows, in bytes; the rest is cut with a note |
 * | `PIPELINE_TOOL_CALLS` | `text` | how every client but Open WebUI gets tool calls on `/v1/chat/completions`, streamed or not: `text` (a line `→ name(arguments)` and a line `← name: result`, each cut to 200 characters, in the content), `none` (not at all: only the agent's text), or `details` (Open WebUI's `<details type="tool_calls">` blocks, for clients that draw them) |
 * | `PIPELINE_OPENWEBUI_TOOL_CALLS` | `items` | how requests through Open WebUI get tool calls: `items` (its own tool-call items, Open WebUI 0.10 and later) or `details` (`<details type="tool_calls">` blocks in the content, for Open WebUI up to 0.9) |
 * | `PIPELINE_WS_MAX_SOCKETS` | `256` | WebSockets open at once; one more is refused with 503 |
 * | `PIPELINE_WS_IDLE_TIMEOUT` | `300` | a WebSocket with no turn running and no message for this long is closed (1001) |
 * | `PIPELINE_WS_PING_INTERVAL` | `30` | a WebSocket is pinged this often; one that has not answered the previous ping is dropped |
 * | `PIPELINE_STATELESS_CHATS` | `default` | requests without a chat id, and temporary chats: `default` (the agent's own thread) or `fresh` (a new conversation each) |
 * | `PIPELINE_USER_MODE` | `shared` | every model's user mode: `shared` (every user talks to the agent itself) or `per-user` (the agent is a template: each user gets their own copy, with its own memory) |
 * | `PIPELINE_PER_USER_MODELS` | – | comma-separated models (agent ids or names) in `per-user` mode whatever `PIPELINE_USER_MODE` says |
 * | `PIPELINE_USER_JWT_SECRET` | – | Open WebUI's `FORWARD_USER_INFO_HEADER_JWT_SECRET`: the user is then taken only from a valid signed `X-OpenWebUI-User-Jwt` (HS256), and unsigned user headers and body fields are refused |
 *
 * @since 0.1.0
 */
import { EnvConfig, LettaConfig } from "@letta-pipeline/core"
import { Config, type ConfigError, Context, Duration, type Effect, Layer, Option, type Redacted } from "effect"

/** @category models */
export type StatusEvents = "on" | "off" | "auto"

/** @category models */
export type OpenWebUIToolCalls = "items" | "details"

/** How clients that are not Open WebUI get tool calls (`PIPELINE_TOOL_CALLS`). @category models */
export type ToolCalls = "text" | "none" | "details"

/** @category models */
export type StatelessChats = "default" | "fresh"

/** Whether a model's agent is everyone's (`shared`) or a template for each user's own agent (`per-user`). @category models */
export type UserMode = "shared" | "per-user"

/** @category models */
export interface Settings {
  readonly apiKey: Option.Option<Redacted.Redacted>
  readonly pipelineId: string
  readonly corsOrigins: ReadonlyArray<string>
  readonly allowedHosts: ReadonlyArray<string>
  /** Largest request body and largest WebSocket message, in bytes. */
  readonly maxBodyBytes: number
  readonly heartbeat: Duration.Duration
  readonly firstEventWait: Duration.Duration
  readonly shutdownGrace: Duration.Duration
  readonly statusEvents: StatusEvents
  readonly agentTags: ReadonlyArray<string>
  readonly otlpEndpoint: Option.Option<string>
  readonly statelessChats: StatelessChats
  readonly toolResultMax: number
  readonly openWebUIToolCalls: OpenWebUIToolCalls
  /** How clients that are not Open WebUI get tool calls. */
  readonly toolCalls: ToolCalls
  /** WebSockets open at once, at most. */
  readonly wsMaxSockets: number
  /** How long a WebSocket may stay without a turn running and without a message from its client. */
  readonly wsIdleTimeout: Duration.Duration
  /** How often a WebSocket is pinged; a peer that has not answered by the next ping is dropped. */
  readonly wsPingInterval: Duration.Duration
  /** `PIPELINE_USER_MODE`: the mode of every model not in {@link Settings.perUserModels} */
  readonly userMode: UserMode
  /** `PIPELINE_PER_USER_MODELS`: agent ids or names */
  readonly perUserModels: ReadonlyArray<string>
  /** `PIPELINE_USER_JWT_SECRET`: verify Open WebUI's signed user (HS256) and trust nothing unsigned */
  readonly userJwtSecret: Option.Option<Redacted.Redacted>
}

/** @category services */
export class ServerConfig extends Context.Tag("@letta-pipeline/server/ServerConfig")<ServerConfig, Settings>() {}

/** A duration (as `LettaConfig.duration`) above zero. */
const positiveDuration = (name: string, fallback: Duration.Duration) =>
  LettaConfig.duration(name).pipe(
    Config.validate({ message: `${name}: expected a number of seconds above 0`, validation: (d: Duration.Duration) => Duration.greaterThan(d, Duration.zero) }),
    Config.withDefault(fallback)
  )

const list = (name: string) =>
  Config.string(name).pipe(
    Config.map((text) => text.split(",").map((item) => item.trim()).filter((item) => item !== "")),
    Config.withDefault<ReadonlyArray<string>>([])
  )

/** @category constructors */
export const defaults: Settings = {
  apiKey: Option.none(),
  pipelineId: "letta",
  corsOrigins: [],
  allowedHosts: [],
  maxBodyBytes: 16 * 1024 * 1024,
  heartbeat: Duration.seconds(15),
  firstEventWait: Duration.seconds(2),
  shutdownGrace: Duration.seconds(10),
  statusEvents: "auto",
  agentTags: [],
  otlpEndpoint: Option.none(),
  statelessChats: "default",
  toolResultMax: 16 * 1024,
  openWebUIToolCalls: "items",
  toolCalls: "text",
  wsMaxSockets: 256,
  wsIdleTimeout: Duration.minutes(5),
  wsPingInterval: Duration.seconds(30),
  userMode: "shared",
  perUserModels: [],
  userJwtSecret: Option.none()
}

/**
 * The settings from the variables in the module docs, an empty variable counting as unset (`EnvConfig.load`).
 *
 * @category constructors
 */
export const config: Effect.Effect<Settings, ConfigError.ConfigError> = EnvConfig.load(Config.all({
  apiKey: Config.option(Config.redacted("PIPELINE_API_KEY")),
  pipelineId: Config.string("PIPELINE_ID").pipe(
    Config.validate({ message: "PIPELINE_ID: expected letters, digits, _ and - only", validation: (id) => /^[\w-]+$/.test(id) }),
    Config.withDefault(defaults.pipelineId)
  ),
  corsOrigins: list("PIPELINE_CORS_ORIGINS"),
  allowedHosts: Config.map(list("PIPELINE_ALLOWED_HOSTS"), (hosts) => hosts.map((host) => host.toLowerCase())),
  maxBodyBytes: Config.integer("PIPELINE_MAX_BODY").pipe(
    Config.validate({ message: "PIPELINE_MAX_BODY: expected a number of bytes, at least 1", validation: (n) => n >= 1 }),
    Config.withDefault(defaults.maxBodyBytes)
  ),
  heartbeat: LettaConfig.duration("PIPELINE_HEARTBEAT").pipe(Config.withDefault(defaults.heartbeat)),
  firstEventWait: LettaConfig.duration("PIPELINE_FIRST_EVENT_WAIT").pipe(Config.withDefault(defaults.firstEventWait)),
  shutdownGrace: LettaConfig.duration("PIPELINE_SHUTDOWN_GRACE").pipe(Config.withDefault(defaults.shutdownGrace)),
  statusEvents: Config.literal("on", "off", "auto")("PIPELINE_STATUS_EVENTS").pipe(
    Config.withDefault<StatusEvents>(defaults.statusEvents)
  ),
  agentTags: list("PIPELINE_AGENT_TAGS"),
  otlpEndpoint: Config.option(Config.string("OTEL_EXPORTER_OTLP_ENDPOINT")),
  statelessChats: Config.literal("default", "fresh")("PIPELINE_STATELESS_CHATS").pipe(
    Config.withDefault<StatelessChats>(defaults.statelessChats)
  ),
  toolResultMax: Config.integer("PIPELINE_TOOL_RESULT_MAX").pipe(
    Config.validate({ message: "PIPELINE_TOOL_RESULT_MAX: expected a number of bytes, at least 256", validation: (n) => n >= 256 }),
    Config.withDefault(defaults.toolResultMax)
  ),
  openWebUIToolCalls: Config.literal("items", "details")("PIPELINE_OPENWEBUI_TOOL_CALLS").pipe(
    Config.withDefault<OpenWebUIToolCalls>(defaults.openWebUIToolCalls)
  ),
  toolCalls: Config.literal("text", "none", "details")("PIPELINE_TOOL_CALLS").pipe(
    Config.withDefault<ToolCalls>(defaults.toolCalls)
  ),
  wsMaxSockets: Config.integer("PIPELINE_WS_MAX_SOCKETS").pipe(
    Config.validate({ message: "PIPELINE_WS_MAX_SOCKETS: expected a number of sockets, at least 1", validation: (n) => n >= 1 }),
    Config.withDefault(defaults.wsMaxSockets)
  ),
  wsIdleTimeout: positiveDuration("PIPELINE_WS_IDLE_TIMEOUT", defaults.wsIdleTimeout),
  wsPingInterval: positiveDuration("PIPELINE_WS_PING_INTERVAL", defaults.wsPingInterval),
  userMode: Config.literal("shared", "per-user")("PIPELINE_USER_MODE").pipe(Config.withDefault<UserMode>(defaults.userMode)),
  perUserModels: list("PIPELINE_PER_USER_MODELS"),
  userJwtSecret: Config.option(Config.redacted("PIPELINE_USER_JWT_SECRET"))
}))

/** @category constructors */
export const make = (options: Partial<Settings> = {}): Settings => ({ ...defaults, ...options })

/** @category layers */
export const layer = (options: Partial<Settings> = {}): Layer.Layer<ServerConfig> =>
  Layer.succeed(ServerConfig, make(options))

/** @category layers */
export const layerConfig: Layer.Layer<ServerConfig, ConfigError.ConfigError> = Layer.effect(ServerConfig, config)
