/**
 * `JsonText.parse`: the same answers as `Schema.parseJson()` decoded in full (it calls that schema's decoding step
 * without the parser around it), plus the nesting bound.
 */
import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import { JsonText } from "../src/index.js"

const full = Schema.decodeEither(Schema.parseJson())

describe("JsonText.parse", () => {
  it("gives the value of JSON text", () => {
    assert.deepStrictEqual(JsonText.parse(`{"a":[1,"x",null,true],"b":{"c":-2.5e3}}`), Either.right({
      a: [1, "x", null, true],
      b: { c: -2500 }
    }))
    assert.deepStrictEqual(JsonText.parse(`"text"`), Either.right("text"))
    assert.deepStrictEqual(JsonText.parse(` 42 `), Either.right(42))
    assert.deepStrictEqual(JsonText.parse(`null`), Either.right(null))
  })

  it("says why text is not a JSON value", () => {
    for (const text of ["", "{", `{"a":}`, "undefined", `{"a":1}x`, "'a'", "NaN"]) {
      assert.deepStrictEqual(JsonText.parse(text), Either.left("not valid JSON"), text)
    }
  })

  it("refuses nesting past the bound, and takes it up to the bound", () => {
    const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`
    assert.isTrue(Either.isRight(JsonText.parse(nested(JsonText.maxDepth))))
    assert.deepStrictEqual(
      JsonText.parse(nested(JsonText.maxDepth + 1)),
      Either.left(`nested deeper than ${JsonText.maxDepth} levels`)
    )
    // brackets inside strings do not count
    assert.isTrue(Either.isRight(JsonText.parse(JSON.stringify({ text: "[".repeat(1000) }))))
  })

  it("agrees with Schema.parseJson() on random JSON and random text", () => {
    const agree = (text: string) => {
      const ours = JsonText.parse(text)
      const theirs = full(text)
      assert.strictEqual(Either.isRight(ours), Either.isRight(theirs), text)
      if (Either.isRight(ours) && Either.isRight(theirs)) assert.deepStrictEqual(ours.right, theirs.right)
    }
    fc.assert(fc.property(fc.json({ depthSize: "small" }), agree), { numRuns: 2000 })
    fc.assert(fc.property(fc.string({ unit: "binary" }), agree), { numRuns: 2000 })
    // JSON with bytes changed: mostly invalid, sometimes still valid
    fc.assert(
      fc.property(fc.json(), fc.nat(), fc.string({ maxLength: 3 }), (json, at, insert) => {
        const cut = at % (json.length + 1)
        agree(json.slice(0, cut) + insert + json.slice(cut + 1))
      }),
      { numRuns: 2000 }
    )
  })
})
