/**
 * How the real Letta server writes things: ids, dates, SSE frames, error bodies.
 *
 * @since 0.1.0
 */
import * as Sse from "@effect/experimental/Sse"
import { HttpServerResponse } from "@effect/platform"
import { LettaSchema } from "@letta-pipeline/core"
import { Clock, DateTime, Effect, Schema } from "effect"
import { randomUUID } from "node:crypto"

/** A fresh `<prefix>-<uuid4>`. @category constructors */
export const id = (prefix: "agent" | "message" | "run" | "conv" | "step" | "ping" | "identity"): Effect.Effect<string> =>
  Effect.sync(() => `${prefix}-${randomUUID()}`)

/**
 * Letta's `otid`: the message uuid with its low 7 bits replaced by a running index that grows each time the message
 * type changes within one LLM response (`Message.generate_otid_from_id`).
 *
 * @category constructors
 */
export const otid = (messageId: string, index: number): string => {
  const uuid = messageId.slice(messageId.indexOf("-") + 1)
  const last = Number.parseInt(uuid.slice(-2), 16)
  return uuid.slice(0, -2) + ((last & 0x80) | (index & 0x7f)).toString(16).padStart(2, "0")
}

/** Now, as Letta writes dates: seconds precision with an offset (`2026-08-01T10:00:02+00:00`). @category constructors */
export const now: Effect.Effect<string> = Effect.map(Clock.currentTimeMillis, (millis) =>
  DateTime.formatIso(DateTime.unsafeMake(Math.floor(millis / 1000) * 1000)).replace(".000Z", "+00:00"))

const encodeJson = Schema.encodeSync(Schema.parseJson())
const encodeMessageJson = Schema.encodeSync(LettaSchema.LettaMessageJson)

/** Compact JSON, as pydantic's `model_dump_json`. @category encoding */
export const json = (value: unknown): string => encodeJson(value)

/** A message as a wire object, keys in Letta's order. @category encoding */
export const encodeMessage = Schema.encodeSync(LettaSchema.LettaMessage)

/** A message as compact JSON in Letta's key order. @category encoding */
export const messageJson = (message: LettaSchema.LettaMessage): string => encodeMessageJson(message)

/** `data: <json>\n\n`. @category encoding */
export const dataFrame = (data: string): string => Sse.encoder.write({ _tag: "Event", event: "message", id: undefined, data })

/** `event: error\ndata: <json>\n\n`. @category encoding */
export const errorFrame = (data: string): string => Sse.encoder.write({ _tag: "Event", event: "error", id: undefined, data })

/** `data: [DONE]\n\n`. @category encoding */
export const doneFrame = dataFrame("[DONE]")

/** What the cancellation-aware wrapper writes (note `json.dumps` spacing, unlike everything else). @category encoding */
export const cancelledStopFrame = dataFrame("{\"message_type\": \"stop_reason\", \"stop_reason\": \"cancelled\"}")

/** FastAPI's `{"detail": …}` with a status. @category constructors */
export const detail = (status: number, message: unknown): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(json({ detail: message }), { status, contentType: "application/json" })

/** Any JSON body with a status. @category constructors */
export const jsonResponse = (body: unknown, status = 200): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(json(body), { status, contentType: "application/json" })

const pyRepr = (value: unknown): string => {
  if (value === null || value === undefined) return "None"
  if (value === true) return "True"
  if (value === false) return "False"
  if (typeof value === "string") {
    // Python picks double quotes for a string holding single quotes and no double ones
    const escaped = value.replace(/\\/g, "\\\\")
    return value.includes("'") && !value.includes("\"")
      ? `"${escaped}"`
      : `'${escaped.replace(/'/g, "\\'")}'`
  }
  if (typeof value === "number") return String(value)
  if (Array.isArray(value)) return `(${value.map(pyRepr).join(", ")}${value.length === 1 ? "," : ""})`
  if (typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `'${k}': ${pyRepr(v)}`).join(", ")}}`
  }
  return String(value)
}

/** One pydantic validation error. @category models */
export interface ValidationIssue {
  readonly type: string
  readonly loc: ReadonlyArray<string | number>
  readonly msg: string
  readonly input: unknown
}

/**
 * Letta's 422: `detail` is the Python `repr()` of pydantic's error list, a string, not an array; `examples` only for
 * malformed path ids.
 *
 * @category constructors
 */
export const validationError = (
  issues: ReadonlyArray<ValidationIssue>,
  examples?: ReadonlyArray<string>
): HttpServerResponse.HttpServerResponse =>
  jsonResponse({
    trace_id: "",
    detail: `[${issues.map((issue) => pyRepr({ ...issue, loc: [...issue.loc] })).join(", ")}]`,
    ...(examples === undefined ? {} : { examples })
  }, 422)
