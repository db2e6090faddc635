/**
 * The SSE decoder of the REST transport: events whatever the read boundaries (CR, LF and CRLF line ends, multi-byte
 * characters split between reads), the size bound whether an event comes whole or in pieces, the last event at a clean
 * end. Through the client these are covered too (LettaClientSse, Fuzz); here each read boundary is tried. The UTF-8
 * reader (whole decodes where a read ends on a character boundary) gives a streaming `TextDecoder`'s text for any bytes.
 */
import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as SseDecoder from "../src/internal/sse.js"

const utf8 = new TextEncoder()

/** Every event of `bytes` fed in reads cut at `cuts`, then the end; the error's tag if one. */
const decode = (bytes: Uint8Array, cuts: ReadonlyArray<number>, maxEventSize?: number) => {
  const decoder = SseDecoder.make(maxEventSize === undefined ? undefined : { maxEventSize })
  const events: Array<SseDecoder.SseEvent> = []
  let start = 0
  for (const cut of [...cuts, bytes.length]) {
    const out = decoder.feed(bytes.subarray(start, cut))
    if (out instanceof SseDecoder.EventTooLarge) return out._tag
    for (const e of out) events.push({ event: e.event, data: e.data, id: e.id })
    start = cut
  }
  const last = decoder.end()
  if (last instanceof SseDecoder.EventTooLarge) return last._tag
  for (const e of last) events.push({ event: e.event, data: e.data, id: e.id })
  return events
}

describe("SSE decoder", () => {
  const stream = ": keep-alive\r\ndata: {\"a\":\"é🦜\"}\r\n\r\nevent: error\rid: 7\rdata: one\rdata: two\r\rretry: 10\ndata: [DONE]\n\ndata: last"
  const expected = [
    { event: "message", data: "{\"a\":\"é🦜\"}", id: undefined },
    { event: "error", data: "one\ntwo", id: "7" },
    { event: "message", data: "[DONE]", id: undefined },
    { event: "message", data: "last", id: undefined }
  ]

  it("reads the same events whatever the read boundaries (one cut at every byte, and every byte alone)", () => {
    const bytes = utf8.encode(stream)
    assert.deepStrictEqual(decode(bytes, []), expected)
    for (let cut = 1; cut < bytes.length; cut++) assert.deepStrictEqual(decode(bytes, [cut]), expected, `cut at ${cut}`)
    assert.deepStrictEqual(decode(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)), expected)
  })

  it("fails an event past the bound as EventTooLarge, whole in one read or in pieces, with or without its end", () => {
    const big = `data: ${"x".repeat(2000)}`
    for (const text of [`${big}\n\n`, big, `data: a\n${big}\n\n`]) {
      const bytes = utf8.encode(text)
      assert.strictEqual(decode(bytes, [], 1000), "EventTooLarge", `whole: ${text.length}`)
      assert.strictEqual(decode(bytes, [100, 700, 1500], 1000), "EventTooLarge", `in pieces: ${text.length}`)
    }
    // at the bound it passes
    assert.deepStrictEqual(decode(utf8.encode(`data: ${"x".repeat(1000)}\n\n`), [300], 1000), [
      { event: "message", data: "x".repeat(1000), id: undefined }
    ])
  })
})

describe("UTF-8 reader", () => {
  /** The text of `bytes` read in pieces cut at `cuts`, then the end. */
  const readAll = (bytes: Uint8Array, cuts: ReadonlyArray<number>) => {
    const reader = SseDecoder.utf8Reader()
    let text = ""
    let start = 0
    for (const cut of [...cuts, bytes.length]) {
      text += reader.read(bytes.subarray(start, cut))
      start = cut
    }
    return text + reader.end()
  }
  /** The same through one streaming `TextDecoder`, as the decoder read before. */
  const streamed = (bytes: Uint8Array, cuts: ReadonlyArray<number>) => {
    const decoder = new TextDecoder("utf-8")
    let text = ""
    let start = 0
    for (const cut of [...cuts, bytes.length]) {
      text += decoder.decode(bytes.subarray(start, cut), { stream: true })
      start = cut
    }
    return text + decoder.decode()
  }
  // text with multi-byte characters and byte order marks, bytes that are not UTF-8, and a sequence cut short
  const piece = fc.oneof(
    fc.string({ unit: "binary", maxLength: 8 }).map((text) => utf8.encode(text)),
    fc.constantFrom(utf8.encode("\ufeff"), utf8.encode("data: é🦜\n\n"), Uint8Array.of(0xe2, 0x82), Uint8Array.of(0xf0, 0x9f)),
    fc.uint8Array({ maxLength: 4 })
  )
  const input = fc.array(piece, { maxLength: 12 }).chain((pieces) => {
    const bytes = Uint8Array.from(pieces.flatMap((p) => [...p]))
    return fc.tuple(
      fc.constant(bytes),
      fc.uniqueArray(fc.integer({ min: 0, max: bytes.length }), { maxLength: 6 }).map((cuts) => cuts.sort((a, b) => a - b))
    )
  })

  it("gives a streaming TextDecoder's text, whatever the bytes and the read boundaries", () => {
    fc.assert(
      fc.property(input, ([bytes, cuts]) => {
        assert.strictEqual(readAll(bytes, cuts), streamed(bytes, cuts))
      }),
      { numRuns: 5_000 }
    )
  })

  it("drops one byte order mark at the start only, even split between reads", () => {
    const bytes = utf8.encode("\ufeff\ufeffa")
    for (const cuts of [[], [1], [2], [3], [1, 2, 4]]) assert.strictEqual(readAll(bytes, cuts), "\ufeffa", `cuts ${cuts}`)
    assert.strictEqual(readAll(utf8.encode("a\ufeff"), [1]), "a\ufeff")
  })

  it("ends a character cut short with U+FFFD, at the end or before ASCII", () => {
    assert.strictEqual(readAll(Uint8Array.of(0x61, 0xe2, 0x82), [2]), "a\ufffd")
    assert.strictEqual(readAll(Uint8Array.of(0xe2, 0x82, 0x61), [1]), "\ufffda")
  })
})
