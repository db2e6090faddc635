/**
 * The SSE decoder of the REST transport: events whatever the read boundaries (CR, LF and CRLF line ends, multi-byte
 * characters split between reads), the size bound whether an event comes whole or in pieces, the last event at a clean
 * end. Through the client these are covered too (LettaClientSse, Fuzz); here each read boundary is tried.
 */
import { assert, describe, it } from "@effect/vitest"
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
