/**
 * The SSE and JSON decoding path fuzzed through the whole pipeline (fast-check): random bytes, SSE-shaped noise,
 * mutations of a real turn (bytes deleted, inserted, flipped, duplicated, cut short), random chunk boundaries, invalid
 * UTF-8, deep JSON and frames past the size limit. Every case ends in events or a typed failure (`DecodeError`,
 * `LettaError`, `HttpError`); never a defect or a hang; every event it yields encodes to JSON as the server sends it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Chunk, Console, Effect, Exit, FastCheck as fc, Layer, Option, Runtime, Schema, Stream } from "effect"
import { readFileSync } from "node:fs"
import { Pipeline, PipelineHooks, StreamEvent } from "../src/index.js"
import * as Letta from "./utils/letta.js"
import * as Mock from "./utils/MockHttpClient.js"

const encoder = new TextEncoder()
const encodeEvent = Schema.encodeSync(StreamEvent.StreamEventJson)

/** A real token stream: the recorded chunks, then a tool return, reasoning, an answer with non-ASCII text, the end. */
const recorded = readFileSync(new URL("fixtures/recorded-2026-05-token-stream-chunks.jsonl", import.meta.url), "utf8")
  .trim()
  .split("\n")
const realTurn = encoder.encode(
  `${Mock.frames(Letta.ping)}${recorded.map((line) => `data: ${line}\n\n`).join("")}${
    Mock.frames(
      // the return of the recorded call
      Letta.toolReturn("019e5d5be6e324e71a70b794083713fb", "3 results"),
      Letta.reasoning("The user greets me."),
      Letta.assistant("Héllo 👋, how can I help?"),
      Letta.stopReason(),
      Letta.usage,
      "[DONE]"
    )
  }`
)

type Outcome =
  | { readonly _tag: "Events"; readonly events: ReadonlyArray<StreamEvent.StreamEvent> }
  | { readonly _tag: "Failed"; readonly error: string; readonly reason: string }

/** The pipeline over one Letta answer whose body arrives in `chunks`; the responder reads whatever was set last. */
let chunks: ReadonlyArray<Uint8Array> = []
const pipelineLayer = Pipeline.layer.pipe(
  Layer.provide(PipelineHooks.layerIdentity),
  Layer.provideMerge(Mock.clientLayer(() => Mock.sse(chunks), { agentId: Option.some(Letta.agentId) }))
)

const turn = (body: ReadonlyArray<Uint8Array>) =>
  Effect.gen(function*() {
    chunks = body
    const pipeline = yield* Pipeline.Pipeline
    const exit = yield* Effect.exit(Stream.runCollect(pipeline.pipe({ messages: [{ role: "user", content: "Hi" }], body: {} })))
    if (Exit.isSuccess(exit)) {
      const events = Chunk.toReadonlyArray(exit.value)
      // what the server does with each event; a deep or cyclic value would throw here
      for (const event of events) encodeEvent(event)
      return { _tag: "Events", events } as Outcome
    }
    const failure = Cause.failureOption(exit.cause)
    assert.isTrue(Option.isSome(failure), `not a typed failure: ${Cause.pretty(exit.cause)}`)
    const error = Option.getOrThrow(failure)
    assert.include(["DecodeError", "LettaError", "HttpError"], error._tag)
    assert.isAbove(error.message.length, 0)
    return { _tag: "Failed", error: error._tag, reason: "reason" in error ? String(error.reason) : "" } as Outcome
  })

/** `bytes` cut at these positions. */
const cutAt = (bytes: Uint8Array, cuts: ReadonlyArray<number>): ReadonlyArray<Uint8Array> => {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b)
  const parts: Array<Uint8Array> = []
  let from = 0
  for (const point of [...points, bytes.length]) {
    parts.push(bytes.subarray(from, point))
    from = point
  }
  return parts
}

type Mutation =
  | { readonly op: "delete"; readonly at: number; readonly length: number }
  | { readonly op: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: "flip"; readonly at: number; readonly mask: number }
  | { readonly op: "duplicate"; readonly at: number; readonly length: number }
  | { readonly op: "truncate"; readonly at: number }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({
    op: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 16 }),
      fc.constantFrom("\n", "\r", "\n\n", "data: ", "event: error\n", "{", "}", "\"", "\\", ":", "[DONE]", "\xff")
        .map((text) => encoder.encode(text)),
      // invalid UTF-8: a lone continuation byte, a cut 4-byte sequence, an overlong encoding
      fc.constantFrom(Uint8Array.of(0x80), Uint8Array.of(0xf0, 0x9f, 0x91), Uint8Array.of(0xc0, 0xaf), Uint8Array.of(0xff, 0xfe))
    )
  }),
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant("duplicate" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 256 }) }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() })
)

const mutate = (bytes: Uint8Array, mutations: ReadonlyArray<Mutation>): Uint8Array =>
  mutations.reduce((current, m) => {
    const at = m.at % (current.length + 1)
    switch (m.op) {
      case "delete":
        return Buffer.concat([current.subarray(0, at), current.subarray(at + m.length)])
      case "insert":
        return Buffer.concat([current.subarray(0, at), m.bytes, current.subarray(at)])
      case "flip": {
        const copy = Uint8Array.from(current)
        if (at < copy.length) copy[at] = (copy[at] ?? 0) ^ m.mask
        return copy
      }
      case "duplicate":
        return Buffer.concat([current.subarray(0, at + m.length), current.subarray(at)])
      case "truncate":
        return current.subarray(0, at)
    }
  }, bytes)

/** SSE-shaped noise: field lines, blank lines and JSON-ish fragments in any order. */
const sseNoise = fc.array(
  fc.oneof(
    fc.constantFrom("data: ", "data:", "event: error\n", "event: cancelled\n", "id: 1\n", "retry: 10\n", ": comment\n", "\n", "\r\n"),
    fc.constantFrom(...recorded.map((line) => `data: ${line}\n\n`)),
    fc.jsonValue({ maxDepth: 3 }).map((value) => `data: ${JSON.stringify(value)}\n\n`),
    fc.record({ message_type: fc.constantFrom("assistant_message", "tool_call_message", "stop_reason", "ping", "error_message", "x"), rest: fc.jsonValue({ maxDepth: 2 }) })
      .map((value) => `data: ${JSON.stringify(value)}\n\n`),
    fc.string({ maxLength: 40 })
  ),
  { maxLength: 30 }
).map((parts) => encoder.encode(parts.join("")))

const runs = 1000

describe("fuzzing the decoding path", () => {
  it.effect("random bytes, SSE-shaped noise and mutated real turns, in random chunks: events or a typed failure", () =>
    Effect.gen(function*() {
      const tally = new Map<string, number>()
      const count = (outcome: Outcome) => {
        const key = outcome._tag === "Events" ? "events" : `${outcome.error}:${outcome.reason}`
        tally.set(key, (tally.get(key) ?? 0) + 1)
      }
      const cuts = fc.array(fc.nat(), { maxLength: 12 })
      const bodies = {
        "random bytes": fc.uint8Array({ maxLength: 4096 }),
        "SSE-shaped noise": sseNoise,
        "mutated real turn": fc.array(mutation, { minLength: 1, maxLength: 6 }).map((ms) => mutate(realTurn, ms))
      }
      const run = Runtime.runPromise(yield* Effect.runtime<Pipeline.Pipeline>())
      let cases = 0
      for (const [name, body] of Object.entries(bodies)) {
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(body, cuts, async (bytes, at) => {
              count(await run(turn(cutAt(bytes, at))))
              cases += 1
            }),
            { numRuns: runs, seed: 20261124, endOnFailure: true }
          ).catch((error: unknown) => {
            throw new Error(`${name}: ${String(error)}`)
          })
        )
      }
      yield* Console.log(
        `decode fuzzing: ${cases} cases; outcomes ${JSON.stringify(Object.fromEntries([...tally].sort()))}`
      )
      assert.strictEqual(cases, 3 * runs)
      // the noise reaches every outcome, not only the first check
      assert.isAbove(tally.get("events") ?? 0, 0)
      assert.isAbove(tally.get("DecodeError:Json") ?? 0, 0)
      assert.isAbove(tally.get("DecodeError:Schema") ?? 0, 0)
    }).pipe(Effect.provide(pipelineLayer)), { timeout: 120_000 })

  it.effect("a real turn in any chunks gives the same events as in one piece", () =>
    Effect.gen(function*() {
      const whole = yield* turn([realTurn])
      assert.strictEqual(whole._tag, "Events")
      if (whole._tag !== "Events") return
      // the recorded tool call and answer, then the tool's result, reasoning, the answer, usage, the end
      assert.deepStrictEqual(whole.events.map((event) => event.type), [
        "tool_call", "status", "message", "tool_result", "status", "reasoning", "message", "usage", "done"
      ])
      assert.strictEqual(whole.events.at(-1)?.type, "done")
      const run = Runtime.runPromise(yield* Effect.runtime<Pipeline.Pipeline>())
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.array(fc.nat(), { minLength: 1, maxLength: 40 }), async (at) => {
            const split = await run(turn(cutAt(realTurn, at)))
            assert.deepStrictEqual(split, whole)
          }),
          { numRuns: runs, seed: 20261124 }
        )
      )
    }).pipe(Effect.provide(pipelineLayer)), { timeout: 60_000 })

  it.effect("invalid UTF-8 inside a frame becomes U+FFFD in the text, not a failure", () =>
    Effect.gen(function*() {
      const [head, tail] = Mock.frames(Letta.assistant("AB"), Letta.stopReason(), "[DONE]").split("AB")
      const outcome = yield* turn([
        encoder.encode(head),
        Uint8Array.of(0x41, 0xff, 0xc0, 0xaf, 0xf0, 0x9f, 0x91, 0x42),
        encoder.encode(tail)
      ])
      assert.strictEqual(outcome._tag, "Events")
      const text = outcome._tag === "Events"
        ? outcome.events.flatMap((event) => (event.type === "message" ? [event.data.content] : [])).join("")
        : ""
      assert.match(text, /^A\uFFFD+B$/)
    }).pipe(Effect.provide(pipelineLayer)))

  it.effect("deep JSON: past 128 levels a DecodeError naming the nesting, in any message; within, events", () =>
    Effect.gen(function*() {
      const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`
      const frame = (payload: string) =>
        encoder.encode(`data: ${payload}\n\n${Mock.frames(Letta.stopReason(), "[DONE]")}`)
      for (const depth of [129, 100_000]) {
        for (const payload of [
          `{"message_type":"tool_return_message","tool_return":${nested(depth)}}`,
          `{"message_type":"assistant_message","content":${nested(depth)}}`,
          `{"message_type":"brand_new_type","payload":${nested(depth)}}`,
          `{"message_type":"stop_reason","stop_reason":"end_turn","extra":${nested(depth)}}`,
          nested(depth)
        ]) {
          const exit = yield* Effect.exit(Effect.flatMap(Pipeline.Pipeline, (pipeline) => {
            chunks = [frame(payload)]
            return Stream.runDrain(pipeline.pipe({ messages: [{ role: "user", content: "Hi" }], body: {} }))
          }))
          const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
          assert.strictEqual(error?._tag === "DecodeError" && error.reason, "Json", payload.slice(0, 60))
          assert.include(error?.message, "nested deeper than 128 levels")
        }
      }
      // brackets inside strings do not count; an unknown message nested within the bound passes
      const within = yield* turn([encoder.encode(
        `data: {"message_type":"brand_new_type","text":"${"[".repeat(1000)}","payload":${nested(120)}}\n\n` +
          Mock.frames(Letta.assistant("Still here."), Letta.stopReason(), "[DONE]")
      )])
      assert.deepStrictEqual(within._tag === "Events" && within.events.map((event) => event.type), ["message", "done"])
    }).pipe(Effect.provide(pipelineLayer)), { timeout: 60_000 })

  it.effect("frames past the 8 MiB limit, with or without their line end, fail as TooLarge", () =>
    Effect.gen(function*() {
      const piece = encoder.encode("x".repeat(64 * 1024))
      const huge = Array.from({ length: 8 * 16 + 1 }, () => piece)
      for (const body of [
        [encoder.encode("data: "), ...huge, encoder.encode("\n\n")],
        // one line that never ends
        [encoder.encode("data: "), ...huge, ...huge],
        // many data lines that add up to one huge event
        [...Array.from({ length: 8 * 16 + 1 }, () => encoder.encode(`data: ${"y".repeat(64 * 1024 - 7)}\n`))]
      ]) {
        const outcome = yield* turn(body)
        assert.deepStrictEqual(outcome, { _tag: "Failed", error: "DecodeError", reason: "TooLarge" })
      }
    }).pipe(Effect.provide(pipelineLayer)), { timeout: 60_000 })
})
