/**
 * One chat turn as a transport hands it to the pipeline: the seed's `pipe(user_message, model_id, messages, body)`.
 *
 * Letta keeps the history itself, so only the newest user message is sent; `messages` is there for task detection
 * and for hooks.
 *
 * @since 0.1.0
 */
import { Effect, Either, Option, Schema } from "effect"
import { LettaError } from "./LettaError.js"
import type * as LettaSchema from "./LettaSchema.js"
import * as SchemaText from "./SchemaText.js"

/** @category schemas */
export const TextPart = Schema.Struct({ type: Schema.Literal("text"), text: Schema.String })

/** @category schemas */
export const ImagePart = Schema.Struct({
  type: Schema.Literal("image_url"),
  image_url: Schema.Struct({ url: Schema.String, detail: Schema.optional(Schema.String) }).annotations(
    SchemaText.expected("an object with a url")
  )
})

/** Any other part (audio, files, …): accepted, not sent. @category schemas */
export const OtherPart = Schema.Struct(
  {
    type: Schema.String.pipe(Schema.filter((type) => type !== "text" && type !== "image_url"))
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)

const isTextPart = Schema.is(TextPart)
const isImagePart = Schema.is(ImagePart)

/** @category schemas */
export const ContentPart = Schema.Union(TextPart, ImagePart, OtherPart)
/** @category models */
export type ContentPart = typeof ContentPart.Type

/** OpenAI's chat roles (`developer` is the newer name of `system`, `function` the older one of `tool`). */
const roles: ReadonlyArray<string> = ["system", "developer", "user", "assistant", "tool", "function"]

/**
 * A message's role: one of OpenAI's. Typed as a string, so that code building messages need not name the union.
 *
 * @category schemas
 */
export const Role = Schema.String.pipe(
  Schema.filter((role) => roles.includes(role)),
  Schema.annotations(SchemaText.expected(`${roles.slice(0, -1).map((role) => `"${role}"`).join(", ")} or "${roles.at(-1)}"`))
)

/** An OpenAI-style chat message. @category schemas */
export const ChatMessage = Schema.Struct({
  role: Role,
  content: Schema.optionalWith(
    Schema.NullOr(
      Schema.Union(Schema.String, Schema.Array(ContentPart).annotations(SchemaText.expected("an array of content parts")))
    ),
    { default: () => null }
  ),
  name: Schema.optional(Schema.String)
}).annotations(SchemaText.expected("a message ({\"role\": …, \"content\": …})"))
/** @category models */
export type ChatMessage = typeof ChatMessage.Type

/** A transcript: the messages of a chat, oldest first. @category schemas */
export const ChatMessages = Schema.Array(ChatMessage).annotations(SchemaText.expected("an array of messages"))

/** @category models */
export interface PipeRequest {
  /** Text of the newest user message; derived from `messages` when absent. */
  readonly userMessage?: string | undefined
  /** The agent id; `LETTA_AGENT_ID` when absent. */
  readonly model?: string | undefined
  /** The transcript as the client has it. */
  readonly messages: ReadonlyArray<ChatMessage>
  /** The raw request body. */
  readonly body: Readonly<Record<string, unknown>>
  /** The Letta conversation to continue; the agent's default thread when absent. */
  readonly conversationId?: string | undefined
  /** An Open WebUI task name the transport already knows (e.g. from `X-OpenWebUI-Task`). */
  readonly task?: string | undefined
  /** Overrides `LETTA_STREAM_TOKENS` for this turn. */
  readonly streamTokens?: boolean | undefined
}

/** @category constructors */
export const make = (request: PipeRequest): PipeRequest => request

/** The newest message with role `user`. @category accessors */
export const newestUserMessage = (messages: ReadonlyArray<ChatMessage>): Option.Option<ChatMessage> =>
  Option.fromNullable(messages.findLast((message) => message.role === "user"))

/** All text parts of a message, joined by newlines. @category accessors */
export const textOf = (message: ChatMessage): string => {
  const content = message.content
  if (content === null) return ""
  if (typeof content === "string") return content
  return content.flatMap((part) => (isTextPart(part) ? [part.text] : [])).join("\n")
}

const dataUrl = /^data:([^;,]+);base64,(.*)$/s

/**
 * Whether Letta may be asked to fetch an image from this URL: `https`, a host name (never an IP address: no loopback,
 * private or link-local target by a literal) that `hosts` allows (`example.com`, `*.example.com`, or `*`).
 */
const remoteImageAllowed = (url: string, hosts: ReadonlyArray<string>): boolean => {
  if (hosts.length === 0 || !URL.canParse(url)) return false
  const parsed = new URL(url)
  const host = parsed.hostname.toLowerCase()
  if (parsed.protocol !== "https:" || parsed.username !== "" || parsed.password !== "") return false
  // IPv4 and IPv6 literals: an address is never a host name anyone listed
  if (/^[0-9.]+$/.test(host) || host.startsWith("[") || host === "localhost" || host.endsWith(".localhost")) return false
  return hosts.some((allowed) =>
    allowed === "*" || allowed === host || (allowed.startsWith("*.") && host.endsWith(allowed.slice(1)))
  )
}

const imageOf = (
  part: typeof ImagePart.Type,
  hosts: ReadonlyArray<string>
): Either.Either<LettaSchema.UserContentPart, LettaError> => {
  const match = dataUrl.exec(part.image_url.url)
  if (match !== null) {
    return Either.right({ type: "image", source: { type: "base64", media_type: match[1] ?? "image/png", data: match[2] ?? "" } })
  }
  if (remoteImageAllowed(part.image_url.url, hosts)) {
    return Either.right({ type: "image", source: { type: "url", url: part.image_url.url } })
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(part.image_url.url)?.[1]?.toLowerCase() ?? "no scheme"
  return Either.left(
    new LettaError({
      reason: "InvalidRequest",
      detail: `an image given by URL (${scheme === "https" ? "an https host not allowed" : `scheme ${scheme}`}) is not sent ` +
        "to Letta to fetch: attach the image itself (a data: URL), or allow its host with PIPELINE_IMAGE_URL_HOSTS"
    })
  )
}

/**
 * What goes to Letta: the newest user message as Letta content (text, plus images as Letta image parts). Images go
 * inline (`data:` URLs); a URL for Letta to fetch only when `imageUrlHosts` allows it (`PIPELINE_IMAGE_URL_HOSTS`),
 * else the turn fails with `InvalidRequest` saying why (never `file:`, an IP address, or plain `http`).
 *
 * @category accessors
 */
export const lettaContent = (
  request: PipeRequest,
  imageUrlHosts: ReadonlyArray<string> = []
): Effect.Effect<LettaSchema.MessageCreate["content"], LettaError> => {
  const newest = newestUserMessage(request.messages)
  const text = request.userMessage ?? Option.match(newest, { onNone: () => "", onSome: textOf })
  const parts = Option.match(newest, {
    onNone: () => [],
    onSome: (message) =>
      typeof message.content === "string" || message.content === null
        ? []
        : message.content.flatMap((part) => (isImagePart(part) ? [imageOf(part, imageUrlHosts)] : []))
  })
  const refused = parts.flatMap((part) => (Either.isLeft(part) ? [part.left] : []))
  if (refused[0] !== undefined) return Effect.fail(refused[0])
  const images = parts.flatMap((part) => (Either.isRight(part) ? [part.right] : []))
  if (text.trim() === "" && images.length === 0) {
    return Effect.fail(
      new LettaError({ reason: "InvalidRequest", detail: "the request holds no user message to send to the agent" })
    )
  }
  return Effect.succeed(images.length === 0 ? text : [{ type: "text", text }, ...images])
}
