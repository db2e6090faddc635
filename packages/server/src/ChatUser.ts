/**
 * Who a request is for, when a model gives each user their own agent (`per-user` mode).
 *
 * Where the user comes from, in order:
 * 1. Open WebUI's signed user, the `X-OpenWebUI-User-Jwt` header (HS256 with `FORWARD_USER_INFO_HEADER_JWT_SECRET`;
 *    claims `sub`, `name`, `email`, `role`, `exp`: `open_webui/utils/headers.py`, `_mint_forward_user_jwt`). With
 *    `PIPELINE_USER_JWT_SECRET` set, it is the only source: a token that does not verify, and any unsigned user
 *    header or body field, is refused.
 * 2. Without a secret: Open WebUI's forwarded user headers (`X-OpenWebUI-User-Id`, `-Name` (URL-quoted), `-Email`,
 *    `-Role`, with `ENABLE_FORWARD_USER_INFO_HEADERS=true`), else the body's `user`: the object Open WebUI adds on a
 *    Pipelines connection (`{id, name, email, role}`), or a string, OpenAI's end-user id (the native surfaces and the
 *    CLI send that).
 *
 * @since 0.1.0
 */
import { Effect, Option, Redacted, Schema } from "effect"
import * as Jose from "jose"
import * as ApiError from "./ApiError.js"

/** The longest user id or name accepted, in characters. @category constants */
export const maxChars = 256

/** A user of a shared deployment. @category models */
export interface User {
  /** Open WebUI's user id (or the caller's own id for a user): the key of the user's agent. */
  readonly id: string
  readonly name?: string | undefined
  readonly email?: string | undefined
  /** Where the user was read from, for logs. */
  readonly source: "signed" | "headers" | "body"
}

const Text = Schema.String.pipe(Schema.maxLength(maxChars))
const Id = Text.pipe(
  Schema.minLength(1),
  Schema.filter((id) => id.trim() === id && !/\p{Cc}/u.test(id), { message: () => "no control characters or surrounding spaces" })
)
const Claims = Schema.Struct({ sub: Id, name: Schema.optional(Text), email: Schema.optional(Text) })
const BodyUser = Schema.Union(Id, Schema.Struct({ id: Id, name: Schema.optional(Schema.NullOr(Text)), email: Schema.optional(Schema.NullOr(Text)) }))
const decodeClaims = Schema.decodeUnknownOption(Claims)
const decodeBodyUser = Schema.decodeUnknownOption(BodyUser)

const refused = (why: string) => new ApiError.UserRefused({ why })

/** `X-OpenWebUI-User-Name` is URL-quoted by Open WebUI (`quote(user.name, safe=" ")`). */
const unquote = (value: string): string => {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}

const userHeaders = ["x-openwebui-user-id", "x-openwebui-user-name", "x-openwebui-user-email", "x-openwebui-user-role"]

/**
 * The request's user, None when it names none.
 *
 * Fails with `UserRefused` (401, its cause in plain words) when `secret` is set and the signed user is missing while
 * unsigned ones are given, or does not verify (bad signature, expired, not HS256, no `sub`), or is not the body's
 * user; and when a user header or field is malformed.
 *
 * @category constructors
 */
export const fromRequest = (
  secret: Option.Option<Redacted.Redacted>,
  headers: Readonly<Record<string, string | undefined>>,
  body: Readonly<Record<string, unknown>>
): Effect.Effect<Option.Option<User>, ApiError.UserRefused> => {
  const token = headers["x-openwebui-user-jwt"]
  const unsigned = userHeaders.some((name) => headers[name] !== undefined) || body["user"] !== undefined
  if (Option.isSome(secret)) {
    if (token === undefined) {
      return unsigned
        ? Effect.fail(refused(
          "the user is not signed: PIPELINE_USER_JWT_SECRET is set, so only Open WebUI's X-OpenWebUI-User-Jwt is trusted " +
            "(set FORWARD_USER_INFO_HEADER_JWT_SECRET in Open WebUI to the same secret)"
        ))
        : Effect.succeedNone
    }
    return verify(secret.value, token).pipe(
      Effect.filterOrFail(
        (user) => bodyUserId(body).pipe(Option.match({ onNone: () => true, onSome: (id) => id === user.id })),
        () => refused("the body's user is not the signed user")
      ),
      Effect.map(Option.some)
    )
  }
  const id = headers["x-openwebui-user-id"]
  if (id !== undefined) {
    if (!Schema.is(Id)(id)) return Effect.fail(refused(`X-OpenWebUI-User-Id is not a user id (1 to ${maxChars} characters)`))
    const name = Option.fromNullable(headers["x-openwebui-user-name"]).pipe(Option.map(unquote), Option.getOrUndefined)
    return Effect.succeedSome({ id, name: name?.slice(0, maxChars), email: headers["x-openwebui-user-email"]?.slice(0, maxChars), source: "headers" })
  }
  if (body["user"] === undefined || body["user"] === null) return Effect.succeedNone
  return Option.match(decodeBodyUser(body["user"]), {
    onNone: () => Effect.fail(refused(`the body's user is neither a user id nor {"id": …} (1 to ${maxChars} characters)`)),
    onSome: (user) =>
      Effect.succeedSome(
        typeof user === "string"
          ? { id: user, source: "body" as const }
          : { id: user.id, name: user.name ?? undefined, email: user.email ?? undefined, source: "body" as const }
      )
  })
}

const bodyUserId = (body: Readonly<Record<string, unknown>>): Option.Option<string> =>
  Option.map(decodeBodyUser(body["user"]), (user) => (typeof user === "string" ? user : user.id))

/** The verified claims of Open WebUI's signed user (HS256 only: `jose` refuses `none` and other algorithms). */
const verify = (secret: Redacted.Redacted, token: string): Effect.Effect<User, ApiError.UserRefused> =>
  Effect.tryPromise({
    try: () =>
      Jose.jwtVerify(token, new TextEncoder().encode(Redacted.value(secret)), {
        algorithms: ["HS256"],
        requiredClaims: ["sub", "exp"]
      }),
    catch: (error) => refused(`the signed user (X-OpenWebUI-User-Jwt) is not valid: ${joseReason(error)}`)
  }).pipe(
    Effect.flatMap(({ payload }) =>
      Option.match(decodeClaims(payload), {
        onNone: () => Effect.fail(refused(`the signed user's claims are malformed (sub: 1 to ${maxChars} characters)`)),
        onSome: (claims) => Effect.succeed<User>({ id: claims.sub, name: claims.name, email: claims.email, source: "signed" })
      })
    )
  )

/** jose's reason in plain words (its error codes), never the token. */
const joseReason = (error: unknown): string => {
  if (error instanceof Jose.errors.JWTExpired) return "it has expired"
  if (error instanceof Jose.errors.JWSSignatureVerificationFailed) return "its signature does not match the shared secret"
  if (error instanceof Jose.errors.JOSEAlgNotAllowed) return "it is not signed with HS256"
  if (error instanceof Jose.errors.JWTClaimValidationFailed) return `its claim ${error.claim} is missing or invalid`
  if (error instanceof Jose.errors.JWSInvalid || error instanceof Jose.errors.JWTInvalid) return "it is not a JWT"
  return "it could not be verified"
}
