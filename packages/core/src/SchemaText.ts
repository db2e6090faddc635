/**
 * A schema failure in words a client can act on: where (`messages[0].content`), what was expected (`a string or an
 * array of content parts`) and a short excerpt of what came (`got 42`), never the schema itself.
 *
 * Effect's `TreeFormatter` renders a `ParseError` as the whole schema type with box-drawing branches (`{ readonly
 * model: minLength(1); … }` / `└─ ["messages"]` / `Expected ReadonlyArray<…>, actual 42`): right for a log, useless to
 * someone who sent a request. {@link describe} walks the same issue tree and keeps, per failure, the path, a plain
 * description of the expected value and the actual one. Of a union it tells the member that got furthest (the one the
 * value was evidently meant to be), or, when none got past the value itself, the union as a whole.
 *
 * A schema can name what it expects with {@link expected} (`Schema.Array(ContentPart).annotations(expected("an
 * array of content parts"))`); otherwise the description follows the schema's kind (`a string`, `"turn" or
 * "cancel"`, `an object`, …).
 *
 * @since 0.1.0
 */
import { Either, Option, type ParseResult, Schema, SchemaAST } from "effect"

/**
 * Annotation key of the words {@link describe} uses for what a schema expects.
 *
 * @category annotations
 */
export const ExpectedId: unique symbol = Symbol.for("@letta-pipeline/core/SchemaText/Expected")

/**
 * Annotations naming what a schema expects, as a noun phrase: `a non-empty string`, `an array of content parts`.
 *
 * @category annotations
 */
export const expected = (words: string): { readonly [ExpectedId]: string } => ({ [ExpectedId]: words })

/**
 * One failure: where, and what is wrong there (`expected …, got …`, `missing (expected …)`, `not a known field`).
 *
 * @category models
 */
export interface Problem {
  readonly path: ReadonlyArray<PropertyKey>
  readonly text: string
}

const encodeJson = Schema.encodeEither(Schema.parseJson())

const clip = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max)}…`)

/**
 * The value, short: strings quoted and cut at 40 characters, structures as the start of their JSON.
 *
 * @category accessors
 */
export const excerpt = (actual: unknown): string => {
  if (actual === undefined) return "nothing"
  if (actual === null || typeof actual === "number" || typeof actual === "boolean") return String(actual)
  if (typeof actual === "string") return Either.getOrElse(encodeJson(clip(actual, 40)), () => "a string")
  if (Array.isArray(actual) && actual.length === 0) return "an empty array"
  return Either.match(encodeJson(actual), {
    onLeft: () => (Array.isArray(actual) ? "an array" : `a value of type ${typeof actual}`),
    onRight: (json) => clip(json, 60)
  })
}

const orList = (words: ReadonlyArray<string>): string => {
  const unique = [...new Set(words)]
  return unique.length <= 1 ? unique.join("") : `${unique.slice(0, -1).join(", ")} or ${unique.at(-1)}`
}

const literalWords = (literal: SchemaAST.LiteralValue): string =>
  typeof literal === "string" ? Either.getOrElse(encodeJson(literal), () => literal) : String(literal)

/**
 * What a schema expects, in words: its {@link expected} annotation, else by its kind.
 *
 * @category accessors
 */
export const expectedOf = (ast: SchemaAST.AST): string => words(ast, 0)

/** {@link expectedOf}, `depth` levels into suspended (recursive) schemas, which stop being unfolded at 4. */
const words = (ast: SchemaAST.AST, depth: number): string => {
  const own = SchemaAST.getAnnotation<string>(ast, ExpectedId)
  if (Option.isSome(own)) return own.value
  switch (ast._tag) {
    case "StringKeyword":
    case "TemplateLiteral":
      return "a string"
    case "NumberKeyword":
      return "a number"
    case "BooleanKeyword":
      return "a boolean"
    case "BigIntKeyword":
      return "an integer"
    case "Literal":
      return literalWords(ast.literal)
    case "Enums":
      return orList(ast.enums.map(([, value]) => literalWords(value)))
    case "UndefinedKeyword":
    case "VoidKeyword":
    case "NeverKeyword":
      return "nothing"
    case "TypeLiteral":
    case "ObjectKeyword":
      return "an object"
    case "TupleType":
      return "an array"
    case "Union":
      return orList(alternatives(ast, depth))
    case "Refinement":
      // built-in filters describe themselves (`a string at least 1 character(s) long`)
      return Option.getOrElse(SchemaAST.getDescriptionAnnotation(ast), () => words(ast.from, depth))
    case "Transformation":
      return words(ast.from, depth)
    case "Suspend":
      return depth < 4 ? words(ast.f(), depth + 1) : "a value"
    case "Declaration":
      return Option.getOrElse(SchemaAST.getTitleAnnotation(ast), () => "a value of another kind")
    case "UnknownKeyword":
    case "AnyKeyword":
      return "any value"
    case "UniqueSymbol":
    case "SymbolKeyword":
      return "a symbol"
  }
}

/** A union's members in words, nested unions flattened (`a string, an array or null`, not `a string or an array or null`). */
const alternatives = (ast: SchemaAST.Union, depth: number): ReadonlyArray<string> =>
  ast.types.flatMap((member) =>
    // JSON has no undefined: an optional field's `| undefined` says nothing to a client
    member._tag === "UndefinedKeyword"
      ? []
      : member._tag === "Union" && Option.isNone(SchemaAST.getAnnotation<string>(member, ExpectedId))
      ? alternatives(member, depth)
      : [words(member, depth)]
  )

const toPath = (path: ParseResult.Path): ReadonlyArray<PropertyKey> => (typeof path === "object" ? path : [path])

const mismatch = (path: ReadonlyArray<PropertyKey>, ast: SchemaAST.AST, actual: unknown): Problem => ({
  path,
  text: `expected ${expectedOf(ast)}, got ${excerpt(actual)}`
})

const isUnion = (ast: SchemaAST.AST): boolean =>
  ast._tag === "Union" || (ast._tag === "Suspend" && isUnion(ast.f()))

const depth = (problems: ReadonlyArray<Problem>): number => Math.max(0, ...problems.map((problem) => problem.path.length))

/**
 * A wrapper (a filter, a transformation such as a struct with defaults) that names what it expects speaks for the
 * value when the failure is the value itself (`messages[0]: expected a message, got 7`); a failure inside the value
 * (`messages[0].role: …`) is told as it is.
 */
const ownWords = (
  ast: SchemaAST.AST,
  actual: unknown,
  path: ReadonlyArray<PropertyKey>,
  inner: ReadonlyArray<Problem>
): ReadonlyArray<Problem> =>
  Option.isSome(SchemaAST.getAnnotation<string>(ast, ExpectedId)) && depth(inner) <= path.length
    ? [mismatch(path, ast, actual)]
    : inner

/**
 * Every failure of `issue` as a {@link Problem}, paths starting at `path`.
 *
 * @category accessors
 */
export const problems = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey> = []): ReadonlyArray<Problem> => {
  switch (issue._tag) {
    case "Pointer":
      return problems(issue.issue, [...path, ...toPath(issue.path)])
    case "Type":
      // a message of its own is a transformation's reason (e.g. why a text is not JSON)
      return [issue.message === undefined ? mismatch(path, issue.ast, issue.actual) : { path, text: issue.message }]
    case "Missing":
      return [{ path, text: `missing (expected ${expectedOf(issue.ast.type)})` }]
    case "Unexpected":
      return [{ path, text: "not a known field" }]
    case "Forbidden":
      return [{ path, text: "cannot be checked here" }]
    case "Refinement":
      return issue.kind === "From"
        ? ownWords(issue.ast, issue.actual, path, problems(issue.issue, path))
        : [mismatch(path, issue.ast, issue.actual)]
    case "Transformation":
      return ownWords(issue.ast, issue.actual, path, problems(issue.issue, path))
    case "Composite": {
      const issues = Array.isArray(issue.issues) ? issue.issues : [issue.issues]
      if (!isUnion(issue.ast)) return issues.flatMap((member) => problems(member, path))
      // one entry per member tried: the one that got deepest into the value is what the client meant
      const tried = issues.map((member) => problems(member, path))
      const deepest = Math.max(...tried.map(depth))
      const chosen = deepest > path.length ? tried.find((member) => depth(member) === deepest) : undefined
      return chosen ?? [mismatch(path, issue.ast, issue.actual)]
    }
  }
}

const identifier = /^[A-Za-z_$][\w$]*$/

/**
 * A path as code would write it: `messages[0].content`, `metadata["chat id"]`; empty for the value itself.
 *
 * @category accessors
 */
export const pathText = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((text, key) => {
    if (typeof key === "number") return `${text}[${key}]`
    const name = String(key)
    if (identifier.test(name)) return text === "" ? name : `${text}.${name}`
    return `${text}[${Either.getOrElse(encodeJson(name), () => name)}]`
  }, "")

/**
 * A `ParseError` in one line: `messages[0].content: expected a string, an array of content parts or null, got 42`.
 *
 * **Details.** Each failure reads `<path>: <what is wrong>` (just `<what is wrong>` for the value itself); several
 * are joined by `; `, at most `max` (3) of them, then `and N more`. Excerpts of the actual value are short (40
 * characters of a string, 60 of JSON). Nothing of the schema's type rendering (`readonly`, `└─`, `Expected`) appears:
 * log `ParseResult.TreeFormatter` output separately when the whole tree is wanted.
 *
 * @category accessors
 */
export const describe = (error: ParseResult.ParseError, options: { readonly max?: number } = {}): string => {
  const max = options.max ?? 3
  const lines = [...new Set(problems(error.issue).map((problem) => {
    const where = pathText(problem.path)
    return where === "" ? problem.text : `${where}: ${problem.text}`
  }))]
  const more = lines.length - max
  return lines.slice(0, max).join("; ") + (more > 0 ? `; and ${more} more` : "")
}
