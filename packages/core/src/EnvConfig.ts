/**
 * Reading settings from the environment, the same way for every package: an empty variable counts as unset, and a
 * configuration error reads as one line that names the variable and the expected form.
 *
 * A `.env` file (or a compose file) often leaves `LETTA_BASE_URL=` behind; Effect's providers hand such a variable over
 * as the empty string, so a setting with a default would fail (`""` is no URL) instead of taking it. {@link load}
 * reads a `Config` through the current provider wrapped by {@link emptyAsUnset}, so every `LETTA_*` and `PIPELINE_*`
 * setting (core's `LettaConfig.config`, the server's `ConversationStore.config` and `ServerConfig.config`) treats a
 * blank value as a missing one, whatever provider a caller installed (the environment, a map in tests, flags in front
 * of the environment).
 *
 * Effect renders a `ConfigError` as a tree such as `(Invalid data at LETTA_MODE: "Expected one of (stream, poll) but
 * received "fast"")`; {@link describe} turns it into `LETTA_MODE: expected "stream" or "poll", got "fast"`.
 *
 * @since 0.1.0
 */
import { type Config, ConfigError, ConfigProvider, Effect, Either } from "effect"

/**
 * Whether a variable's text is blank: empty, or only white space.
 *
 * @category refinements
 */
export const isBlank = (text: string): boolean => text.trim() === ""

/** A copy of `primitive` whose parse calls a blank text missing; the rest (its prototype, `description`) is kept. */
const blankIsMissing = <A>(primitive: Config.Config.Primitive<A>): Config.Config.Primitive<A> => {
  const wrapped: Config.Config.Primitive<A> = Object.create(primitive, {
    parse: {
      value: (text: string): Either.Either<A, ConfigError.ConfigError> =>
        // the path is added by the provider, as for every parse failure
        isBlank(text) ? Either.left(ConfigError.MissingData([], "empty (counts as unset)")) : primitive.parse(text)
    }
  })
  return wrapped
}

/**
 * `provider`, except that a blank variable is missing data: `Config.withDefault` takes its default, `Config.option`
 * gives `None`, a required setting fails as unset.
 *
 * **Details.** Every primitive read (`Config.string`, `Config.integer`, `Config.literal`, …) goes through the flat
 * provider's `load` with the primitive that parses the text; the wrapper hands the inner provider a primitive whose
 * parse refuses a blank text as `MissingData`. Settings here are never read as comma-split sequences, so the text a
 * parse sees is the whole variable.
 *
 * @category constructors
 */
export const emptyAsUnset = (provider: ConfigProvider.ConfigProvider): ConfigProvider.ConfigProvider => {
  const flat = provider.flattened
  return ConfigProvider.fromFlat(ConfigProvider.makeFlat({
    load: (path, primitive, split) => flat.load(path, blankIsMissing(primitive), split),
    enumerateChildren: flat.enumerateChildren,
    patch: flat.patch
  }))
}

/**
 * Reads `config` through the current `ConfigProvider` with blank variables as unset ({@link emptyAsUnset}).
 *
 * @category constructors
 */
export const load = <A>(config: Config.Config<A>): Effect.Effect<A, ConfigError.ConfigError> =>
  Effect.configProviderWith((provider) => emptyAsUnset(provider).load(config))

// ---------------------------------------------------------------------------------------------------------------------
// errors in one line
// ---------------------------------------------------------------------------------------------------------------------

/** A message that already names its variable (`LETTA_RETRIES: …`, `LETTA_BACKEND=app-server needs …`). */
const namesVariable = /^[A-Z][A-Z0-9]*_[A-Z0-9_]+\b/

const quoteList = (values: string): string => {
  const quoted = values.split(", ").map((value) => `"${value}"`)
  return quoted.length <= 1 ? quoted.join("") : `${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}`
}

const effectWords: ReadonlyMap<string, string> = new Map([
  ["a boolean value", "true or false"],
  ["an integer value", "a whole number"],
  ["a number value", "a number"],
  ["a duration", "a duration such as \"30 seconds\""],
  ["an URL value", "a URL"],
  ["a network port value", "a port number from 1 to 65535"],
  ["a Date value", "a date"],
  ["a log level", "a log level (Debug, Info, Warning, Error, …)"]
])

/**
 * Effect's own parse failures (`effect` 3.x, `internal/config.ts`) in plain words, e.g. `Expected one of (stream,
 * poll) but received "fast"` → `expected "stream" or "poll", got "fast"`; other messages are kept.
 */
const plainWords = (message: string): string => {
  const received = /^Expected (.+) but received (.*)$/s.exec(message)
  if (received === null) return message
  const [, expected = "", got = ""] = received
  const oneOf = /^one of \((.*)\)$/s.exec(expected)
  const words = oneOf?.[1] !== undefined ? quoteList(oneOf[1]) : effectWords.get(expected) ?? expected
  return `expected ${words}, got ${got}`
}

const lines = (error: ConfigError.ConfigError): ReadonlyArray<string> => {
  const name = error._op === "And" || error._op === "Or" ? "" : error.path.join("_")
  const named = (text: string) => (name === "" || namesVariable.test(text) ? text : `${name}: ${text}`)
  switch (error._op) {
    case "And":
      return [...lines(error.left), ...lines(error.right)]
    case "Or": {
      // a provider in front of another (flags, then the environment) misses what the second one has: the second's
      // complaint is the one that matters
      const sides = [error.left, error.right].filter((side) => !ConfigError.isMissingDataOnly(side))
      return sides.length === 0 ? lines(error.left) : sides.flatMap(lines)
    }
    case "MissingData":
      return [named(/^Expected .* to exist in /.test(error.message) ? "not set" : plainWords(error.message))]
    case "InvalidData":
      return [named(plainWords(error.message))]
    case "SourceUnavailable":
      return [named(`cannot be read: ${error.message}`)]
    case "Unsupported":
      return [named(error.message)]
  }
}

/**
 * A configuration error as one line: each problem as `VARIABLE: expected …, got …`, several joined by `; `.
 *
 * **Details.** Messages that already start with a variable name (this project's own checks, e.g. `LETTA_RETRIES:
 * expected a whole number from 0 to 10`) are kept; Effect's built-in parse failures are reworded; of alternatives
 * (`Or`, a provider in front of another) only those that are more than missing data are told.
 *
 * @category errors
 */
export const describe = (error: ConfigError.ConfigError): string => [...new Set(lines(error))].join("; ")
