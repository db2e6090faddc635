/**
 * A deterministic OpenAI-compatible LLM, so that the real Letta App Server can run offline in tests and benchmarks.
 *
 * - `GET /v1/models`: one model, `stub-model`.
 * - `POST /v1/chat/completions`, streaming or not: reasoning (`reasoning_content`, 16-character pieces), then a text
 *   that counts the characters of the last user message (12-character pieces), `finish_reason`, usage, `[DONE]`.
 * - `[[tool]]` in the last user message, with the configured tool offered and no tool result yet: one tool call.
 *   After a tool result: "Tool result received. Final answer from the stub LLM."
 * - `[[fail]]`: HTTP 400 with an OpenAI error body.
 *
 * @since 0.1.0
 */
import { HttpLayerRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { HoldingHttpServer } from "@letta-pipeline/core/node"
import { Context, Duration, Effect, Layer, Ref, Schema, Stream } from "effect"
import { createServer } from "node:http"
import * as Wire from "./Wire.js"

/** @category models */
export interface Options {
  /** The tool `[[tool]]` calls, when the server offers it (the App Server's file reader is `Read`). */
  readonly toolName: string
  /** Its arguments, as JSON text. */
  readonly toolArguments: string
  readonly port: number
  /** A pause before each streamed chunk, so that a turn lasts long enough to be stopped midway (default none). */
  readonly chunkDelay: Duration.Duration
}

/** @category models */
export interface Service {
  readonly url: string
  /** Every chat request body received, oldest first. */
  readonly requests: Effect.Effect<ReadonlyArray<unknown>>
}

/** @category services */
export class StubLlm extends Context.Tag("@letta-pipeline/emulator/StubLlm")<StubLlm, Service>() {}

const Message = Schema.Struct({
  role: Schema.String,
  content: Schema.optional(Schema.NullOr(Schema.Union(Schema.String, Schema.Array(Schema.Struct({ type: Schema.String, text: Schema.optional(Schema.String) })))))
})
const Request = Schema.Struct({
  model: Schema.optional(Schema.String),
  messages: Schema.Array(Message),
  stream: Schema.optional(Schema.Boolean),
  stream_options: Schema.optional(Schema.NullOr(Schema.Struct({ include_usage: Schema.optional(Schema.Boolean) }))),
  tools: Schema.optional(Schema.Array(Schema.Struct({ function: Schema.optional(Schema.Struct({ name: Schema.String })) })))
})

const textOf = (message: typeof Message.Type): string =>
  typeof message.content === "string"
    ? message.content
    : (message.content ?? []).map((part) => part.text ?? "").join("")

const pieces = (text: string, size: number): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out
}

const reasoning = "The user greeted me; I will answer briefly."
const usage = { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 }

/** What the user said: the App Server wraps it, or sends alone, automated `<system-reminder>` blocks. */
const saidBy = (message: typeof Message.Type): string =>
  textOf(message).replace(/<system-reminder>[\s\S]*?<\/system-reminder>/g, "").trim()

/** What one request gets. */
const reply = (request: typeof Request.Type, options: Options) => {
  const said = request.messages.findLastIndex((m) => m.role === "user" && saidBy(m) !== "")
  const last = request.messages[said]
  const text = last === undefined ? "" : saidBy(last)
  // one tool call per request for it: none once a tool result follows the message that asked
  const toolAnswered = request.messages.slice(said + 1).some((m) => m.role === "tool")
  const offered = (request.tools ?? []).some((tool) => tool.function?.name === options.toolName)
  if (text.includes("[[fail]]")) return { _tag: "Fail" } as const
  if (text.includes("[[tool]]") && !toolAnswered && offered) return { _tag: "Tool" } as const
  return {
    _tag: "Text",
    text: toolAnswered
      ? "Tool result received. Final answer from the stub LLM."
      : `Hello from the stub LLM! I received ${text.length} characters.`
  } as const
}

const routes = (options: Options, requests: Ref.Ref<ReadonlyArray<unknown>>) =>
  Layer.mergeAll(
    HttpLayerRouter.add("GET", "/v1/models", Effect.succeed(Wire.jsonResponse({
      object: "list",
      data: [{ id: "stub-model", object: "model", created: 1767225600, owned_by: "stub" }]
    }))),
    HttpLayerRouter.add("POST", "/v1/chat/completions", Effect.gen(function*() {
      const raw = yield* HttpServerRequest.schemaBodyJson(Schema.Unknown).pipe(Effect.orElseSucceed(() => ({})))
      yield* Ref.update(requests, (all) => [...all, raw])
      const decoded = Schema.decodeUnknownEither(Request)(raw)
      if (decoded._tag === "Left") {
        return Wire.jsonResponse({ error: { message: "invalid request", type: "invalid_request_error" } }, 400)
      }
      const request = decoded.right
      const outcome = reply(request, options)
      if (outcome._tag === "Fail") {
        return Wire.jsonResponse({ error: { message: "stub forced failure", type: "invalid_request_error" } }, 400)
      }
      const base = { id: "chatcmpl-stub-1", object: "chat.completion.chunk", created: 1767225600, model: "stub-model" }
      const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
        Wire.dataFrame(Wire.json({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] }))
      const toolCall = {
        index: 0,
        id: "call_stub_1",
        type: "function",
        function: { name: options.toolName, arguments: options.toolArguments }
      }
      if (request.stream !== true) {
        return Wire.jsonResponse({
          id: base.id,
          object: "chat.completion",
          created: base.created,
          model: base.model,
          choices: [{
            index: 0,
            message: outcome._tag === "Tool"
              ? { role: "assistant", content: null, tool_calls: [toolCall] }
              : { role: "assistant", content: outcome.text, reasoning_content: reasoning },
            finish_reason: outcome._tag === "Tool" ? "tool_calls" : "stop"
          }],
          usage
        })
      }
      const body = outcome._tag === "Tool"
        ? [chunk({ role: "assistant", tool_calls: [toolCall] }), chunk({}, "tool_calls")]
        : [
          ...pieces(reasoning, 16).map((piece, i) =>
            chunk(i === 0 ? { role: "assistant", reasoning_content: piece } : { reasoning_content: piece })
          ),
          ...pieces(outcome.text, 12).map((piece) => chunk({ content: piece })),
          chunk({}, "stop")
        ]
      const tail = request.stream_options?.include_usage === true
        ? [Wire.dataFrame(Wire.json({ ...base, choices: [], usage }))]
        : []
      const paced = Duration.toMillis(options.chunkDelay) > 0
        ? Stream.tap(Stream.make(...body, ...tail), () => Effect.sleep(options.chunkDelay))
        : Stream.make(...body, ...tail)
      return HttpServerResponse.stream(
        Stream.concat(paced, Stream.succeed(Wire.doneFrame)).pipe(Stream.encodeText),
        { contentType: "text/event-stream" }
      )
    }))
  )

/**
 * The stub on `127.0.0.1` (a free port unless `port` is given).
 *
 * @category layers
 */
export const layer = (options: Partial<Options> = {}): Layer.Layer<StubLlm, never> => {
  const settings: Options = { toolName: "Read", toolArguments: "{}", port: 0, chunkDelay: Duration.zero, ...options }
  return Layer.unwrapEffect(Effect.gen(function*() {
    const requests = yield* Ref.make<ReadonlyArray<unknown>>([])
    const service = Layer.effect(StubLlm, Effect.map(HttpServer.HttpServer, (server) => {
      const address = server.address
      return StubLlm.of({
        url: address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}/v1` : "",
        requests: Ref.get(requests)
      })
    }))
    return Layer.merge(
      HttpLayerRouter.serve(routes(settings, requests), { disableLogger: true, disableListenLog: true }),
      service
    ).pipe(Layer.provide(HoldingHttpServer.layer(createServer, { port: settings.port, host: "127.0.0.1" })))
  })).pipe(Layer.orDie)
}
