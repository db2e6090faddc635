/**
 * Server-sent events in, through `eventsource-parser`, synchronously: the REST transport feeds it the bytes of each
 * read within its one stream stage. Events come out in `@effect/experimental/Sse`'s shape (`event` is `"message"` when
 * the frame names none), and an event past the size bound is that module's `EventTooLarge`.
 *
 * `eventsource-parser` (also the chat page's parser) finds line ends with `indexOf` and keeps a CR that ends one chunk
 * until the next shows whether an LF follows; `@effect/experimental`'s parser reads character by character, which was
 * a tenth of the server's CPU on a long turn (docs/benchmarks.md). `Sse.makeChannel` is not used either way: it turns
 * an oversized event into a defect and answers a `retry:` field by sleeping, where this client needs a typed error and
 * no retries.
 */
import * as Sse from "@effect/experimental/Sse"
import { createParser } from "eventsource-parser"

export type SseEvent = Sse.Event

/** Largest frame accepted, in characters; a larger one fails with `EventTooLarge`. */
export const defaultMaxEventSize = 8 * 1024 * 1024

/** A decoder of one response's bytes. */
export interface Decoder {
  /** The events these bytes complete, or the failure of an event grown past the limit. */
  readonly feed: (bytes: Uint8Array) => ReadonlyArray<Sse.Event> | Sse.EventTooLarge
  /** At a clean end: the event that lacks only its blank line, if any. */
  readonly end: () => ReadonlyArray<Sse.Event> | Sse.EventTooLarge
}

export const make = (options?: { readonly maxEventSize?: number }): Decoder => {
  const maxEventSize = options?.maxEventSize ?? defaultMaxEventSize
  const decoder = new TextDecoder("utf-8")
  let events: Array<Sse.Event> = []
  let tooLarge = false
  const parser = createParser({
    onEvent: (event) => {
      // the parser bounds what it buffers across feeds; an event whole within one feed is bounded here
      if (event.data.length > maxEventSize) tooLarge = true
      else events.push({ _tag: "Event", event: event.event ?? "message", id: event.id, data: event.data })
    },
    onError: (error) => {
      if (error.type === "max-buffer-size-exceeded") tooLarge = true
    },
    maxBufferSize: maxEventSize
  })

  const feedText = (text: string): ReadonlyArray<Sse.Event> | Sse.EventTooLarge => {
    if (!tooLarge) parser.feed(text)
    if (tooLarge) return new Sse.EventTooLarge({ maxEventSize })
    const parsed = events
    events = []
    return parsed
  }

  return {
    feed: (bytes) => feedText(decoder.decode(bytes, { stream: true })),
    end: () => feedText(`${decoder.decode()}\n\n`)
  }
}
