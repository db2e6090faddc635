/**
 * Server-sent events in, through `eventsource-parser`, synchronously: the REST transport feeds it the bytes of each
 * read within its one stream stage; an event past the size bound is an `EventTooLarge`.
 *
 * `eventsource-parser` (also the chat page's parser) finds line ends with `indexOf` and keeps a CR that ends one chunk
 * until the next shows whether an LF follows; `@effect/experimental`'s parser, used before, reads character by
 * character, which was a tenth of the server's CPU on a long turn (docs/benchmarks.md). A `retry:` field is ignored:
 * this client does not reconnect.
 */
import { createParser } from "eventsource-parser"

/** One event: the fields of the WHATWG event stream format that the client reads. */
export interface SseEvent {
  /** `message` when the frame names none. */
  readonly event: string
  readonly id: string | undefined
  readonly data: string
}

/** An event grown past the bound (`maxEventSize` characters). */
export class EventTooLarge {
  readonly _tag = "EventTooLarge"
  constructor(readonly maxEventSize: number) {}
  get message(): string {
    return `Pending SSE event exceeded the maximum size of ${this.maxEventSize}`
  }
}

/** Largest frame accepted, in characters; a larger one fails with `EventTooLarge`. */
export const defaultMaxEventSize = 8 * 1024 * 1024

/** A decoder of one response's bytes. */
export interface Decoder {
  /** The events these bytes complete, or the failure of an event grown past the limit. */
  readonly feed: (bytes: Uint8Array) => ReadonlyArray<SseEvent> | EventTooLarge
  /** At a clean end: the event that lacks only its blank line, if any. */
  readonly end: () => ReadonlyArray<SseEvent> | EventTooLarge
}

/**
 * UTF-8 text of a response read by read, as one `TextDecoder` in streaming mode gives it (a leading byte order mark
 * dropped, a character split between reads whole in the later one, a broken sequence U+FFFD). In Node 20 a streaming
 * decode costs seven times a whole one (109 vs 15 µs for the bench's long turn, `docs/benchmarks.md`) and a decoder
 * that streamed once never takes the fast path again: a read whose last byte is ASCII cannot end inside a character,
 * so it is decoded whole by a decoder that never streams; only a read that may end inside one, and the read after it,
 * go through a streaming decoder.
 */
export const utf8Reader = () => {
  const whole = new TextDecoder("utf-8", { ignoreBOM: true })
  const streaming = new TextDecoder("utf-8", { ignoreBOM: true })
  let pending = false
  let started = false
  const dropBom = (text: string): string => {
    if (started || text === "") return text
    started = true
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  }
  return {
    /** The text these bytes complete. */
    read: (bytes: Uint8Array): string => {
      const endsWhole = bytes.length === 0 ? !pending : bytes[bytes.length - 1]! < 0x80
      if (!pending && endsWhole) return dropBom(whole.decode(bytes))
      pending = !endsWhole
      return dropBom(streaming.decode(bytes, { stream: pending }))
    },
    /** At the end: what a character cut short leaves (U+FFFD), if anything. */
    end: (): string => {
      if (!pending) return ""
      pending = false
      return dropBom(streaming.decode())
    }
  }
}

export const make = (options?: { readonly maxEventSize?: number }): Decoder => {
  const maxEventSize = options?.maxEventSize ?? defaultMaxEventSize
  const decoder = utf8Reader()
  let events: Array<SseEvent> = []
  let tooLarge = false
  const parser = createParser({
    onEvent: (event) => {
      // the parser bounds what it buffers across feeds; an event whole within one feed is bounded here
      if (event.data.length > maxEventSize) tooLarge = true
      else events.push({ event: event.event ?? "message", id: event.id, data: event.data })
    },
    onError: (error) => {
      if (error.type === "max-buffer-size-exceeded") tooLarge = true
    },
    maxBufferSize: maxEventSize
  })

  const feedText = (text: string): ReadonlyArray<SseEvent> | EventTooLarge => {
    if (!tooLarge) parser.feed(text)
    if (tooLarge) return new EventTooLarge(maxEventSize)
    const parsed = events
    events = []
    return parsed
  }

  return {
    feed: (bytes) => feedText(decoder.read(bytes)),
    end: () => feedText(`${decoder.end()}\n\n`)
  }
}
