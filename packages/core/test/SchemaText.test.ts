/**
 * Schema failures in words: the path, what was expected and a short excerpt of what came, never the schema.
 */
import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck as fc, ParseResult, Schema } from "effect"
import { PipeRequest, SchemaText } from "../src/index.js"

const Request = Schema.Struct({
  model: Schema.String.pipe(Schema.minLength(1, SchemaText.expected("an agent id or name"))),
  messages: PipeRequest.ChatMessages,
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  metadata: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Number }))
})

const Message = Schema.Union(
  Schema.Struct({ type: Schema.Literal("turn"), messages: PipeRequest.ChatMessages }),
  Schema.Struct({ type: Schema.Literal("cancel") })
)

const describeFailure = <A, I>(schema: Schema.Schema<A, I>, input: unknown): string =>
  Either.match(Schema.decodeUnknownEither(schema, { errors: "all" })(input), {
    onLeft: (error) => SchemaText.describe(error),
    onRight: () => "decoded"
  })

/** What no client should ever see: Effect's type rendering. */
const schemaDump = /Expected|└─|├─|readonly|ReadonlyArray|Struct \(|<->|filter/

describe("SchemaText.describe", () => {
  it("names the path, the expected value and the actual one", () => {
    const cases: ReadonlyArray<readonly [unknown, string]> = [
      [
        { model: "m", messages: [{ role: "user", content: 42 }] },
        "messages[0].content: expected a string, an array of content parts or null, got 42"
      ],
      // deep in a content part: the member the value was meant to be (a text part) is the one told
      [
        { model: "m", messages: [{ role: "user", content: [{ type: "text", text: 1 }] }] },
        "messages[0].content[0].text: expected a string, got 1"
      ],
      [
        { model: "m", messages: [{ role: "user", content: [{ type: "image_url" }] }] },
        "messages[0].content[0].image_url: missing (expected an object with a url)"
      ],
      [{ messages: [] }, "model: missing (expected an agent id or name)"],
      [{ model: "", messages: [] }, "model: expected an agent id or name, got \"\""],
      [
        { model: "m", messages: [{ role: "robot", content: "hi" }] },
        "messages[0].role: expected \"system\", \"developer\", \"user\", \"assistant\", \"tool\" or \"function\", got \"robot\""
      ],
      [{ model: "m", messages: "hi" }, "messages: expected an array of messages, got \"hi\""],
      [{ model: "m", messages: [7] }, "messages[0]: expected a message ({\"role\": …, \"content\": …}), got 7"],
      [{ model: "m", messages: [], stream: "yes" }, "stream: expected a boolean or null, got \"yes\""],
      [{ model: "m", messages: [], metadata: { "chat id": "x" } }, "metadata[\"chat id\"]: expected a number, got \"x\""],
      ["hello", "expected an object, got \"hello\""]
    ]
    for (const [input, expected] of cases) {
      const text = describeFailure(Request, input)
      assert.strictEqual(text, expected, JSON.stringify(input))
      assert.notMatch(text, schemaDump)
    }
  })

  it("of a tagged union, the member whose tag matched; an unknown tag names the tags", () => {
    assert.strictEqual(describeFailure(Message, { type: "turn", messages: 3 }), "messages: expected an array of messages, got 3")
    assert.strictEqual(describeFailure(Message, { type: "foo" }), "type: expected \"turn\" or \"cancel\", got \"foo\"")
    assert.strictEqual(describeFailure(Message, {}), "type: missing (expected \"turn\" or \"cancel\")")
    assert.strictEqual(describeFailure(Message, 3), "expected an object, got 3")
  })

  it("several failures in one line, at most three, then how many more", () => {
    const text = describeFailure(Request, {
      messages: [{ role: 1, content: 2 }, { role: "user", content: [{ type: "text" }] }],
      stream: 3
    })
    assert.strictEqual(
      text,
      "model: missing (expected an agent id or name); messages[0].role: expected \"system\", \"developer\", \"user\", " +
        "\"assistant\", \"tool\" or \"function\", got 1; messages[0].content: expected a string, an array of content " +
        "parts or null, got 2; and 2 more"
    )
  })

  it("long values are cut short", () => {
    const text = describeFailure(Request, { model: "m", messages: [{ role: "user", content: { long: "x".repeat(500) } }] })
    assert.isBelow(text.length, 200)
    assert.include(text, "got {\"long\":\"xxxx")
    assert.include(text, "…")
    assert.strictEqual(SchemaText.excerpt("y".repeat(100)), `"${"y".repeat(40)}…"`)
  })

  it("the whole tree stays available for logs", () => {
    const error = Either.flip(Schema.decodeUnknownEither(Request)({ model: 1, messages: [] }))
    assert.isTrue(Either.isRight(error))
    if (Either.isRight(error)) assert.include(ParseResult.TreeFormatter.formatErrorSync(error.right), "└─")
  })

  it("any JSON value, or any messages: one short line, never the schema", () => {
    const anyMessages = fc.array(
      fc.record({ role: fc.oneof(fc.constantFrom("user", "assistant"), fc.jsonValue()), content: fc.jsonValue({ maxDepth: 3 }) }),
      { maxLength: 4 }
    ).map((messages) => ({ model: "m", messages }))
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 6 }), anyMessages), (input) => {
        const text = describeFailure(Request, input)
        return text === "decoded" || (text.length < 1200 && !schemaDump.test(text) && !text.includes("\n"))
      }),
      { numRuns: 500, seed: 20261130 }
    )
  })
})
