/**
 * Settings of the pipeline and its Letta connection, read once through Effect `Config` and delivered as a Layer.
 *
 * | Variable | Default | Meaning |
 * |---|---|---|
 * | `PIPELINE_NAME` | `Letta` | name shown to users |
 * | `LETTA_BASE_URL` | `http://localhost:8283` | Letta server (`ws://…` for an App Server) |
 * | `LETTA_BACKEND` | `rest`, or `app-server` for a `ws://` URL | the REST API, or the App Server's WebSocket protocol |
 * | `LETTA_API_KEY` | – | bearer token (Letta Cloud, secure servers) |
 * | `LETTA_PASSWORD` | – | self-hosted `--secure` password (`X-BARE-PASSWORD`) |
 * | `LETTA_AGENT_ID` | – | default agent |
 * | `LETTA_CONNECT_TIMEOUT` | `10 seconds` | until response headers |
 * | `LETTA_FIRST_EVENT_TIMEOUT` | `60 seconds` | until the first stream frame |
 * | `LETTA_IDLE_TIMEOUT` | `90 seconds` | between frames (pings count) |
 * | `LETTA_TURN_TIMEOUT` | `15 minutes` | a whole turn |
 * | `LETTA_CA_FILE` | – | PEM file of extra trusted CAs |
 * | `LETTA_TLS_INSECURE` | `false` | skip TLS verification (logged) |
 * | `LETTA_STREAM_TOKENS` | `true` | token streaming |
 * | `LETTA_MODE` | `stream` | `stream`, or `poll` for proxies that buffer SSE |
 * | `LETTA_POLL_INTERVAL` | `1 second` | poll mode interval |
 * | `LETTA_RETRIES` | `2` | retries of idempotent reads (agents, health, runs) on transient failures; never of turns |
 * | `PIPELINE_IMAGE_URL_HOSTS` | – | image URLs forwarded for Letta to fetch: comma-separated host names (`*.example.com` for a domain, `*` for any name), `https` only, never an IP address; none by default (images go inline as `data:` URLs) |
 * | `LETTA_BUSY_WAIT` | `10 seconds` | how long a turn waits, resending, while Letta answers 409 because the conversation is still busy (a stopped run winding down) |
 *
 * Durations accept a number of seconds (`30`) or an Effect duration (`30 seconds`, `500 millis`).
 *
 * @since 0.1.0
 */
import { Config, type ConfigError, Context, Duration, Layer, Option, Redacted } from "effect"

/** How a turn reaches Letta. @category models */
export type Mode = "stream" | "poll"

/** Which Letta: the REST API (Letta Cloud, classic servers) or the App Server of `@letta-ai/letta-code`. @category models */
export type Backend = "rest" | "app-server"

/** @category models */
export interface Timeouts {
  readonly connect: Duration.Duration
  readonly firstEvent: Duration.Duration
  readonly idle: Duration.Duration
  readonly turn: Duration.Duration
}

/** @category models */
export interface Tls {
  readonly caFile: Option.Option<string>
  readonly insecure: boolean
}

/** @category models */
export interface Settings {
  readonly name: string
  readonly backend: Backend
  /** Without a trailing slash and without credentials in it. */
  readonly baseUrl: string
  readonly apiKey: Option.Option<Redacted.Redacted>
  readonly password: Option.Option<Redacted.Redacted>
  readonly agentId: Option.Option<string>
  readonly timeouts: Timeouts
  readonly tls: Tls
  readonly streamTokens: boolean
  readonly mode: Mode
  readonly pollInterval: Duration.Duration
  /** How often an idempotent read is retried after a transient failure (0: never). */
  readonly retries: number
  /**
   * How long a turn keeps sending while Letta answers 409 because the conversation (or agent) is still busy with an
   * earlier run, e.g. one the user just stopped that is still winding down (0: not at all).
   */
  readonly busyWait: Duration.Duration
  /** Hosts whose image URLs may be forwarded to Letta (`PIPELINE_IMAGE_URL_HOSTS`); empty: inline images only. */
  readonly imageUrlHosts: ReadonlyArray<string>
}

/** @category services */
export class LettaConfig extends Context.Tag("@letta-pipeline/core/LettaConfig")<LettaConfig, Settings>() {}

/** @category constructors */
export const defaults = {
  name: "Letta",
  baseUrl: "http://localhost:8283",
  timeouts: {
    connect: Duration.seconds(10),
    firstEvent: Duration.seconds(60),
    idle: Duration.seconds(90),
    turn: Duration.minutes(15)
  },
  streamTokens: true,
  mode: "stream" as Mode,
  pollInterval: Duration.seconds(1),
  retries: 2,
  busyWait: Duration.seconds(10),
  imageUrlHosts: [] as ReadonlyArray<string>
} as const

/**
 * Fills every omitted setting with its default.
 *
 * @category constructors
 */
export const make = (
  options: Partial<Omit<Settings, "timeouts" | "tls">> & {
    readonly timeouts?: Partial<Timeouts>
    readonly tls?: Partial<Tls>
  } = {}
): Settings => ({
  name: options.name ?? defaults.name,
  backend: options.backend ?? backendOf(options.baseUrl ?? defaults.baseUrl),
  baseUrl: normalizeBaseUrl(options.baseUrl ?? defaults.baseUrl),
  apiKey: options.apiKey ?? Option.none(),
  password: options.password ?? Option.none(),
  agentId: options.agentId ?? Option.none(),
  timeouts: { ...defaults.timeouts, ...options.timeouts },
  tls: { caFile: options.tls?.caFile ?? Option.none(), insecure: options.tls?.insecure ?? false },
  streamTokens: options.streamTokens ?? defaults.streamTokens,
  mode: options.mode ?? defaults.mode,
  pollInterval: options.pollInterval ?? defaults.pollInterval,
  retries: options.retries ?? defaults.retries,
  busyWait: options.busyWait ?? defaults.busyWait,
  imageUrlHosts: options.imageUrlHosts ?? defaults.imageUrlHosts
})

const normalizeBaseUrl = (url: string): string => url.replace(/\/+$/, "")

/** A `ws://` or `wss://` URL is an App Server. */
const backendOf = (url: string): Backend => (/^wss?:/i.test(url) ? "app-server" : "rest")

/** A duration as seconds (`30`, `0.5`) or in Effect's syntax (`30 seconds`). @category constructors */
export const duration = (name: string): Config.Config<Duration.Duration> =>
  Config.number(name).pipe(
    Config.validate({ message: `${name}: expected a non-negative number of seconds`, validation: (n) => n >= 0 }),
    Config.map((seconds) => Duration.millis(seconds * 1000)),
    Config.orElse(() => Config.duration(name))
  )

const baseUrl = Config.string("LETTA_BASE_URL").pipe(
  Config.withDefault(defaults.baseUrl),
  Config.validate({
    message: "LETTA_BASE_URL: expected an http(s):// URL (or ws(s):// for an App Server) without credentials, " +
      "e.g. http://localhost:8283",
    validation: (value) => {
      try {
        const url = new URL(value)
        return ["http:", "https:", "ws:", "wss:"].includes(url.protocol) && url.username === "" && url.password === ""
      } catch {
        return false
      }
    }
  }),
  Config.map(normalizeBaseUrl)
)

const nonEmptySecret = (name: string) =>
  Config.option(Config.redacted(name)).pipe(
    Config.map(Option.filter((secret) => Redacted.value(secret).trim() !== ""))
  )

const fields = Config.all({
  name: Config.string("PIPELINE_NAME").pipe(Config.withDefault(defaults.name)),
  backend: Config.option(Config.literal("rest", "app-server")("LETTA_BACKEND")),
  baseUrl,
  apiKey: nonEmptySecret("LETTA_API_KEY"),
  password: nonEmptySecret("LETTA_PASSWORD"),
  agentId: Config.option(Config.string("LETTA_AGENT_ID")).pipe(
    Config.map(Option.filter((id) => id.trim() !== ""))
  ),
  timeouts: Config.all({
    connect: duration("LETTA_CONNECT_TIMEOUT").pipe(Config.withDefault(defaults.timeouts.connect)),
    firstEvent: duration("LETTA_FIRST_EVENT_TIMEOUT").pipe(Config.withDefault(defaults.timeouts.firstEvent)),
    idle: duration("LETTA_IDLE_TIMEOUT").pipe(Config.withDefault(defaults.timeouts.idle)),
    turn: duration("LETTA_TURN_TIMEOUT").pipe(Config.withDefault(defaults.timeouts.turn))
  }),
  tls: Config.all({
    caFile: Config.option(Config.string("LETTA_CA_FILE")),
    insecure: Config.boolean("LETTA_TLS_INSECURE").pipe(Config.withDefault(false))
  }),
  streamTokens: Config.boolean("LETTA_STREAM_TOKENS").pipe(Config.withDefault(defaults.streamTokens)),
  mode: Config.literal("stream", "poll")("LETTA_MODE").pipe(Config.withDefault(defaults.mode)),
  pollInterval: duration("LETTA_POLL_INTERVAL").pipe(Config.withDefault(defaults.pollInterval)),
  retries: Config.integer("LETTA_RETRIES").pipe(
    Config.validate({ message: "LETTA_RETRIES: expected a whole number from 0 to 10", validation: (n) => n >= 0 && n <= 10 }),
    Config.withDefault(defaults.retries)
  ),
  busyWait: duration("LETTA_BUSY_WAIT").pipe(Config.withDefault(defaults.busyWait)),
  imageUrlHosts: Config.string("PIPELINE_IMAGE_URL_HOSTS").pipe(
    Config.map((text) => text.split(",").map((host) => host.trim().toLowerCase()).filter((host) => host !== "")),
    Config.validate({
      message: "PIPELINE_IMAGE_URL_HOSTS: host names (example.com, *.example.com, or *), not IP addresses",
      validation: (hosts) => hosts.every((host) => host === "*" || /^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(host) && !/^[0-9.]+$/.test(host))
    }),
    Config.withDefault(defaults.imageUrlHosts)
  )
})

/**
 * The settings as an Effect `Config` over the environment variables in the module docs.
 *
 * @category constructors
 */
export const config: Config.Config<Settings> = fields.pipe(
  Config.map(({ backend, ...rest }) => ({ ...rest, backend: Option.getOrElse(backend, () => backendOf(rest.baseUrl)) })),
  Config.validate({
    message: "LETTA_BACKEND=app-server needs a ws:// or wss:// LETTA_BASE_URL, and rest an http(s):// one",
    validation: (settings) => (settings.backend === "app-server") === /^wss?:/i.test(settings.baseUrl)
  }),
  // settings the App Server has no use for are refused rather than silently ignored
  Config.validate({
    message: "LETTA_PASSWORD is for REST servers: the App Server takes its bearer token as LETTA_API_KEY",
    validation: (settings) => settings.backend === "rest" || Option.isNone(settings.password)
  }),
  Config.validate({
    message: "LETTA_MODE=poll needs the REST API: the App Server has no background runs",
    validation: (settings) => settings.backend === "rest" || settings.mode === "stream"
  })
)

/** @category layers */
export const layer = (options: Parameters<typeof make>[0] = {}): Layer.Layer<LettaConfig> =>
  Layer.succeed(LettaConfig, make(options))

/** @category layers */
export const layerConfig: Layer.Layer<LettaConfig, ConfigError.ConfigError> = Layer.effect(
  LettaConfig,
  config
)
