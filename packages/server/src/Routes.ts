/**
 * The HTTP routes, one Layer each.
 *
 * @since 0.1.0
 */
import { HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Pipeline, PipeRequest, StreamEvent } from "@letta-pipeline/core"
import { Effect, Layer, Schema } from "effect"
import * as EventStreamResponse from "./EventStreamResponse.js"

/** Body of `POST /v1/pipe`. @category schemas */
export const PipeBody = Schema.Struct({
  model: Schema.optional(Schema.String),
  messages: Schema.Array(PipeRequest.ChatMessage),
  user_message: Schema.optional(Schema.String),
  conversation_id: Schema.optional(Schema.String)
})

const badRequest = (message: string) =>
  HttpServerResponse.unsafeJson({ error: { message, type: "invalid_request_error" } }, { status: 400 })

/** `GET /health`: the process is up. @category routes */
export const HealthRoute = HttpLayerRouter.add("GET", "/health", HttpServerResponse.unsafeJson({ status: "ok" }))

/** `POST /v1/pipe`: one turn as core's events over SSE. @category routes */
export const PipeRoute = HttpLayerRouter.use(Effect.fnUntraced(function*(router) {
  const pipeline = yield* Pipeline.Pipeline
  yield* router.add(
    "POST",
    "/v1/pipe",
    Effect.gen(function*() {
      const body = yield* HttpServerRequest.schemaBodyJson(PipeBody)
      const events = pipeline.pipe({
        model: body.model,
        userMessage: body.user_message,
        messages: body.messages,
        conversationId: body.conversation_id,
        body: { ...body }
      })
      return EventStreamResponse.make(StreamEvent.catchToEvent(events))
    }).pipe(
      Effect.catchTags({
        ParseError: (error) => Effect.succeed(badRequest(`invalid body: ${error.message}`)),
        RequestError: (error) => Effect.succeed(badRequest(`cannot read the body: ${error.message}`))
      })
    )
  )
}))

/** Every route. @category routes */
export const routes = Layer.mergeAll(HealthRoute, PipeRoute)
