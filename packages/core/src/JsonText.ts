/**
 * JSON text parsed with a bound on nesting: Letta's frames and bodies here, request bodies and tool arguments in the
 * server.
 *
 * `JSON.parse` itself copes with any depth, but what comes after does not: schema error messages, `JSON.stringify` and
 * inspection all recurse, and a frame nested 100,000 levels deep overflows their stack. No Letta payload comes near the
 * bound.
 *
 * @since 0.1.0
 */
import { Either, Schema, SchemaAST } from "effect"

/** Deepest nesting of arrays and objects accepted. @category constants */
export const maxDepth = 128

/** Whether `text` nests arrays and objects deeper than `limit` (a scan of the text, outside strings). */
const nestsDeeperThan = (text: string, limit: number): boolean => {
  // fewer opening brackets than the limit cannot nest deeper: a few native searches settle almost every frame
  let opening = 0
  for (const bracket of ["{", "["]) {
    for (let at = text.indexOf(bracket); at !== -1 && opening <= limit; at = text.indexOf(bracket, at + 1)) opening++
  }
  if (opening <= limit) return false
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (inString) {
      if (code === 0x5c) i++
      else if (code === 0x22) inString = false
    } else if (code === 0x22) inString = true
    else if (code === 0x5b || code === 0x7b) {
      if (++depth > limit) return true
    } else if (code === 0x5d || code === 0x7d) depth--
  }
  return false
}

const parseJson = Schema.parseJson()
const decodeJson = Schema.decodeEither(parseJson)
/**
 * `Schema.parseJson()`'s own decoding step (`JSON.parse` in a `ParseResult.try`), called without the parser around it.
 * That parser checks that a string is a string and wraps the step in closures and `Either`s: on a stream frame it
 * doubled what parsing allocated (about 1 KiB a frame, 300 KiB of a 294-frame turn's 1,450) and added a third to its
 * time (`docs/benchmarks.md`). The input here is a string by its type, so the check has nothing to catch.
 */
const decodeStep = (() => {
  const ast = parseJson.ast
  if (!SchemaAST.isTransformation(ast) || !SchemaAST.isFinalTransformation(ast.transformation)) return undefined
  const transformation = ast.transformation
  return (text: string) => transformation.decode(text, SchemaAST.defaultParseOption, ast, text)
})()

/** The value of `text`, or why it is not one: invalid JSON or nesting past {@link maxDepth}. @category parsing */
export const parse = (text: string): Either.Either<unknown, string> => {
  if (nestsDeeperThan(text, maxDepth)) return Either.left(`nested deeper than ${maxDepth} levels`)
  const step: unknown = decodeStep === undefined ? undefined : decodeStep(text)
  // the step is synchronous (an Either) in every version of Effect so far; anything else takes the whole decoder
  const decoded: Either.Either<unknown, unknown> = Either.isEither(step) ? step : decodeJson(text)
  return Either.isRight(decoded) ? Either.right(decoded.right) : Either.left("not valid JSON")
}
