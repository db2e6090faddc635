/**
 * Core's `StreamEvent`s as a server-sent event stream: `id: <n>`, `event: <type>`, `data: <json>` per event, through
 * `@effect/experimental`'s encoder. `message` events carry no `event:` line: it is SSE's default name.
 *
 * @since 0.1.0
 */
import * as Sse from "@effect/experimental/Sse"
import { HttpServerResponse } from "@effect/platform"
import { StreamEvent } from "@letta-pipeline/core"
import { Schema, Stream } from "effect"

const encodeEvent = Schema.encodeSync(StreamEvent.StreamEventJson)

/** One event as its SSE frame. @category encoding */
export const frame = (event: StreamEvent.StreamEvent, id: number): string =>
  Sse.encoder.write({ _tag: "Event", event: event.type, id: String(id), data: encodeEvent(event) })

/**
 * An HTTP response streaming the events; failures must already be events (`StreamEvent.catchToEvent`).
 *
 * @category constructors
 */
export const make = (events: Stream.Stream<StreamEvent.StreamEvent>): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.stream(
    events.pipe(
      Stream.zipWithIndex,
      Stream.map(([event, index]) => frame(event, index + 1)),
      Stream.encodeText
    ),
    {
      contentType: "text/event-stream",
      headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
    }
  )
