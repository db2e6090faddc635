/**
 * Server-sent events in, through the parser of `@effect/experimental/Sse`, synchronously: the REST transport feeds it
 * the bytes of each read within its one stream stage.
 *
 * `Sse.makeChannel` is not used: it turns an oversized event into a defect and answers a `retry:` field by sleeping,
 * where this client needs a typed error and no retries. Line endings are normalised before parsing because the parser
 * forgets a CR that ends one chunk when the LF starts the next; lines are fed one at a time (see `feedLines`).
 */
import * as Sse from "@effect/experimental/Sse"

export type SseEvent = Sse.Event

/** Largest frame accepted; a larger one fails with `EventTooLarge`. */
export const defaultMaxEventSize = 8 * 1024 * 1024

/** A decoder of one response's bytes. */
export interface Decoder {
  /** The events these bytes complete, or the failure of an event grown past the limit. */
  readonly feed: (bytes: Uint8Array) => ReadonlyArray<Sse.Event> | Sse.EventTooLarge
  /** At a clean end: the event that lacks only its blank line, if any. */
  readonly end: () => ReadonlyArray<Sse.Event> | Sse.EventTooLarge
}

export const make = (options?: { readonly maxEventSize?: number }): Decoder => {
  const decoder = new TextDecoder("utf-8")
  let events: Array<Sse.Event> = []
  let carriageReturnPending = false
  const parser = Sse.makeParser((event) => {
    if (event._tag === "Event") events.push(event)
  }, { maxEventSize: options?.maxEventSize ?? defaultMaxEventSize })

  // one line per call: within one call the parser rescans from the start of its buffer for every line, which is
  // quadratic in the chunk (80 µs a frame in 16 KiB chunks, 2 µs line by line)
  const feedLines = (text: string): Sse.SseError | undefined => {
    let start = 0
    for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", start)) {
      const error = parser.feed(text.slice(start, end + 1))
      if (error !== undefined) return error
      start = end + 1
    }
    return start < text.length ? parser.feed(text.slice(start)) : undefined
  }

  const feedText = (text: string): ReadonlyArray<Sse.Event> | Sse.EventTooLarge => {
    let input = carriageReturnPending ? `\r${text}` : text
    carriageReturnPending = input.endsWith("\r")
    if (carriageReturnPending) input = input.slice(0, -1)
    const error = feedLines(input.includes("\r") ? input.replace(/\r\n?/g, "\n") : input)
    if (error !== undefined) return error.cause
    const parsed = events
    events = []
    return parsed
  }

  return {
    feed: (bytes) => feedText(decoder.decode(bytes, { stream: true })),
    end: () => feedText(`${decoder.decode()}\n\n`)
  }
}
