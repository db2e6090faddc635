/**
 * Faults the emulator can inject, chosen per request (header `X-Emulator-Fault: <fault>` or `[[fault:<fault>]]` in the
 * message) or for every request (`EMULATOR_FAULT`).
 *
 * | Fault | What the client sees |
 * |---|---|
 * | `status:<code>` | that HTTP status with a Letta error body, before any stream |
 * | `reset` | the connection reset in the middle of the stream |
 * | `malformed` | a frame whose JSON is cut off |
 * | `unknown-type` | a frame of a message type no client knows |
 * | `no-done` | the stream ends after its stop reason and usage, without `data: [DONE]` |
 * | `stall` | silence, without keepalive pings, for `EMULATOR_STALL` after the first frames |
 * | `llm-error` | Letta's in-band error tail: `stop_reason: llm_api_error`, `event: error`, `[DONE]` |
 * | `slow-first-byte` | no answer at all for `EMULATOR_FIRST_BYTE_DELAY` |
 * | `stop:<reason>` | the turn ends after its first LLM response (a tool call in it never gets its return) with that stop reason, usage and `[DONE]`, and no error event, e.g. `stop:llm_api_error`, `stop:max_steps` |
 * | `odd-frames` | frames the bridge does not need, odd but harmless: a ping without `id`/`date`, a malformed `user_message`, unknown keys and odd values in fields nobody reads; the turn completes |
 * | `huge-output` | a 190 KB tool result and a 100 KB answer in one frame each; the turn completes |
 *
 * @since 0.1.0
 */
import { ConfigError, Either, Option } from "effect"

/** @category models */
export type Fault =
  | { readonly kind: "status"; readonly status: number }
  | { readonly kind: "stop"; readonly stopReason: string }
  | {
    readonly kind:
      | "reset"
      | "malformed"
      | "unknown-type"
      | "no-done"
      | "stall"
      | "llm-error"
      | "slow-first-byte"
      | "odd-frames"
      | "huge-output"
  }

/** Every fault name, for documentation and tests. @category models */
export const kinds = [
  "status",
  "reset",
  "malformed",
  "unknown-type",
  "no-done",
  "stall",
  "llm-error",
  "slow-first-byte",
  "stop",
  "odd-frames",
  "huge-output"
] as const

/** @category constructors */
export const parse = (text: string): Option.Option<Fault> => {
  const value = text.trim().toLowerCase()
  const status = /^status:(\d{3})$/.exec(value)
  if (status !== null) {
    const code = Number(status[1])
    return code >= 400 && code <= 599 ? Option.some({ kind: "status", status: code }) : Option.none()
  }
  const stop = /^stop:([a-z_]{1,64})$/.exec(value)
  if (stop?.[1] !== undefined) return Option.some({ kind: "stop", stopReason: stop[1] })
  switch (value) {
    case "reset":
    case "malformed":
    case "unknown-type":
    case "no-done":
    case "stall":
    case "llm-error":
    case "slow-first-byte":
    case "odd-frames":
    case "huge-output":
      return Option.some({ kind: value })
    default:
      return Option.none()
  }
}

const marker = /\[\[fault:([a-z0-9:_-]+)\]\]/i

/**
 * The fault of a request: its header, else a marker in its message, else the global one.
 *
 * @category constructors
 */
export const choose = (
  header: string | undefined,
  text: string,
  global: Option.Option<Fault>
): Option.Option<Fault> => {
  if (header !== undefined && header.trim() !== "") return parse(header)
  const found = marker.exec(text)
  return found?.[1] === undefined ? global : parse(found[1])
}

/** @internal */
export const invalid = (text: string): Either.Either<Fault, ConfigError.ConfigError> =>
  Either.left(ConfigError.InvalidData([], `EMULATOR_FAULT: unknown fault ${JSON.stringify(text)}; one of ${kinds.join(", ")}`))
