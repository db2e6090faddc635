/**
 * Talking to an in-process emulator: raw HTTP (wire-level checks) and core's client (integration).
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { LettaConfig, Pipeline } from "@letta-pipeline/core"
import { HttpTransport } from "@letta-pipeline/core/node"
import { Effect, Layer, Schema } from "effect"
import { Emulator, type EmulatorConfig } from "../../src/index.js"

export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
}

export const request = (
  method: "GET" | "POST" | "PUT" | "DELETE",
  path: string,
  options: { readonly body?: unknown; readonly headers?: Record<string, string> } = {}
) =>
  Effect.gen(function*() {
    const { url } = yield* Emulator.Emulator
    const client = yield* HttpClient.HttpClient
    let req = HttpClientRequest.make(method)(`${url}${path}`).pipe(HttpClientRequest.setHeaders(options.headers ?? {}))
    if (options.body !== undefined) {
      req = typeof options.body === "string"
        ? HttpClientRequest.bodyText(req, options.body, "application/json")
        : HttpClientRequest.bodyUnsafeJson(req, options.body)
    }
    const response = yield* client.execute(req)
    return { status: response.status, headers: response.headers, text: yield* response.text } satisfies Answer
  }).pipe(Effect.scoped, Effect.orDie)

export const json = (answer: Answer): unknown => JSON.parse(answer.text)

/** The body decoded by a schema; a mismatch fails the test with the schema's message. */
export const decode = <A, I>(schema: Schema.Schema<A, I>, answer: Answer): A =>
  Schema.decodeUnknownSync(schema)(JSON.parse(answer.text))

/** A JSON object's fields. */
export const fields = (value: unknown): Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : {}

/** The frames of an SSE body, without their trailing blank line. */
export const frames = (text: string): ReadonlyArray<string> => text.split("\n\n").filter((frame) => frame !== "")

/** The JSON payloads of `data:` frames (not `[DONE]`). */
export const payloads = (text: string): ReadonlyArray<Readonly<Record<string, unknown>>> =>
  frames(text).filter((f) => f.startsWith("data: ") && f !== "data: [DONE]").map((f) => fields(JSON.parse(f.slice(6))))

export const demoAgentId = Effect.map(Emulator.Emulator, (emulator) => emulator.demoAgent.id)

/** An emulator and a raw HTTP client. */
export const emulatorLayer = (options: Partial<EmulatorConfig.Settings> = {}) =>
  Layer.merge(Emulator.layer(options), NodeHttpClient.layerUndici)

/** Core's client and pipeline pointed at the emulator of the context. */
export const coreLayer = (settings: Parameters<typeof LettaConfig.make>[0] = {}) =>
  Layer.unwrapEffect(Effect.map(Emulator.Emulator, (emulator) => {
    const all = LettaConfig.make({ ...settings, baseUrl: emulator.url })
    return Pipeline.layerSettings(all).pipe(Layer.provide(HttpTransport.layer(all)))
  }))

export const turn = (content: string) => ({ messages: [{ role: "user" as const, content }] })
