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
 * Durations accept a number of seconds (`30`) or an Effect duration (`30 seconds`, `500 millis`). An empty variable
 * counts as unset (`EnvConfig.load`). `LETTA_BASE_URL` is the server's address: a trailing `/` and a trailing `/v1` (the
 * usual guess, since Letta's API lives under `/v1`, which every request path already starts with) are dropped, the
 * latter with a log line.
 *
 * @since 0.1.0
 */
import { Config, ConfigError, Context, Duration, Effect, Either, Layer, Option, Redacted } from "effect"
import * as EnvConfig from "./EnvConfig.js"

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
  /** Without a trailing slash, without a trailing `/v1` (REST), and without credentials in it. */
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

/**
 * `url` without trailing slashes and, for the REST API, without a trailing `/v1`: every request path starts with `/v1`
 * (`/v1/agents/`, `/v1/health/`), so a base URL ending in it would ask for `/v1/v1/…`, which Letta answers 404.
 *
 * @category constructors
 */
export const normalizeBaseUrl = (url: string): string => {
  const trimmed = url.replace(/\/+$/, "")
  return backendOf(trimmed) === "rest" ? trimmed.replace(/\/v1$/i, "").replace(/\/+$/, "") : trimmed
}

/** A `ws://` or `wss://` URL is an App Server. */
const backendOf = (url: string): Backend => (/^wss?:/i.test(url) ? "app-server" : "rest")

const quoted = (text: string): string => JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)

/**
 * A duration as seconds (`30`, `0.5`) or in Effect's syntax (`30 seconds`), refused in one line that names `name`.
 *
 * @category constructors
 */
export const duration = (name: string): Config.Config<Duration.Duration> =>
  Config.string(name).pipe(Config.mapOrFail((text) => {
    const trimmed = text.trim()
    const seconds = Number(trimmed)
    if (trimmed !== "" && !Number.isNaN(seconds)) {
      return seconds >= 0
        ? Either.right(Duration.millis(seconds * 1000))
        : Either.left(ConfigError.InvalidData([], `${name}: expected a non-negative number of seconds, got ${quoted(text)}`))
    }
    return Option.match(Duration.decodeUnknown(trimmed), {
      onSome: Either.right,
      onNone: () =>
        Either.left(ConfigError.InvalidData(
          [],
          `${name}: expected a number of seconds (30) or a duration ("30 seconds", "500 millis"), got ${quoted(text)}`
        ))
    })
  }))

const baseUrl = Config.string("LETTA_BASE_URL").pipe(
  Config.withDefault(defaults.baseUrl),
  Config.mapOrFail((value) => {
    const url = Either.try(() => new URL(value))
    if (Either.isLeft(url) || !["http:", "https:", "ws:", "wss:"].includes(url.right.protocol)) {
      // a value with `@` may hold a password: it is not repeated
      const got = value.includes("@") ? "" : `, got ${quoted(value)}`
      return Either.left(ConfigError.InvalidData(
        [],
        `LETTA_BASE_URL: expected an http(s):// URL (or ws(s):// for an App Server), e.g. http://localhost:8283${got}`
      ))
    }
    if (url.right.username !== "" || url.right.password !== "") {
      return Either.left(ConfigError.InvalidData(
        [],
        "LETTA_BASE_URL: expected a URL without credentials (user:password@); put them in LETTA_API_KEY or LETTA_PASSWORD"
      ))
    }
    return Either.right(value)
  })
)

const fields = Config.all({
  name: Config.string("PIPELINE_NAME").pipe(Config.withDefault(defaults.name)),
  backend: Config.option(Config.literal("rest", "app-server")("LETTA_BACKEND")),
  baseUrl,
  // blank ones are unset, as every variable (`EnvConfig.load`)
  apiKey: Config.option(Config.redacted("LETTA_API_KEY")),
  password: Config.option(Config.redacted("LETTA_PASSWORD")),
  agentId: Config.option(Config.string("LETTA_AGENT_ID")),
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
      message: "PIPELINE_IMAGE_URL_HOSTS: expected host names (example.com, *.example.com, or *), not IP addresses",
      validation: (hosts) => hosts.every((host) => host === "*" || /^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(host) && !/^[0-9.]+$/.test(host))
    }),
    Config.withDefault(defaults.imageUrlHosts)
  )
})

/** The settings as a `Config`; {@link config} reads them with blank variables as unset. */
const settings: Config.Config<Settings> = fields.pipe(
  Config.map(({ backend, ...rest }) => {
    const baseUrl = normalizeBaseUrl(rest.baseUrl)
    return { ...rest, baseUrl, backend: Option.getOrElse(backend, () => backendOf(baseUrl)) }
  }),
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
    message: "LETTA_MODE=poll needs the REST API (LETTA_BACKEND=rest): the App Server (LETTA_BACKEND=app-server) has no background runs",
    validation: (settings) => settings.backend === "rest" || settings.mode === "stream"
  })
)

/**
 * The settings from the environment variables in the module docs, an empty variable counting as unset; a `/v1`
 * dropped from `LETTA_BASE_URL` is logged (info). Fails with a `ConfigError` (`EnvConfig.describe` tells it in one
 * line).
 *
 * @category constructors
 */
export const config: Effect.Effect<Settings, ConfigError.ConfigError> = EnvConfig.load(
  Config.all({ settings, given: Config.option(Config.string("LETTA_BASE_URL")) })
).pipe(
  Effect.tap(({ given, settings }) => {
    const url = Option.getOrElse(given, () => defaults.baseUrl).replace(/\/+$/, "")
    return url === settings.baseUrl || !/\/v1$/i.test(url) ? Effect.void : Effect.logInfo(
      `LETTA_BASE_URL: dropped the trailing /v1 of ${url} (every Letta API path already starts with /v1); using ` +
        settings.baseUrl
    )
  }),
  Effect.map(({ settings }) => settings)
)

/** @category layers */
export const layer = (options: Parameters<typeof make>[0] = {}): Layer.Layer<LettaConfig> =>
  Layer.succeed(LettaConfig, make(options))

/** @category layers */
export const layerConfig: Layer.Layer<LettaConfig, ConfigError.ConfigError> = Layer.effect(
  LettaConfig,
  config
)
