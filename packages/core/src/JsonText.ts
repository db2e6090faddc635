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
import { Either, Schema } from "effect"

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

const decodeJson = Schema.decodeEither(Schema.parseJson())

/** The value of `text`, or why it is not one: invalid JSON or nesting past {@link maxDepth}. @category parsing */
export const parse = (text: string): Either.Either<unknown, string> => {
  if (nestsDeeperThan(text, maxDepth)) return Either.left(`nested deeper than ${maxDepth} levels`)
  return Either.mapLeft(decodeJson(text), () => "not valid JSON")
}
