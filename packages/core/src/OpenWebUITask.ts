/**
 * Open WebUI's background tasks (title, tags, follow-ups, …) reach a model like chat turns. Sent to a stateful agent
 * they would land in its memory and history, so they are answered here, without Letta.
 *
 * Detection, best first: the transport's task (`X-OpenWebUI-Task`), `metadata.task` (what a Pipelines inlet sees),
 * a top-level `task` (where an inlet copies it), the legacy `title: true`, and the shape of the default templates
 * (`open_webui/config.py`, `DEFAULT_*_GENERATION_PROMPT_TEMPLATE`): a non-streaming request whose one user message
 * starts with `### Task:`, after nothing but system messages (Open WebUI puts a workspace model's system prompt before
 * task prompts too).
 *
 * @since 0.1.0
 */
import { Option, Schema } from "effect"
import * as PipeRequest from "./PipeRequest.js"
import * as StreamEvent from "./StreamEvent.js"

/** The task names Open WebUI uses. @category models */
export const taskNames = [
  "title_generation",
  "follow_up_generation",
  "tags_generation",
  "emoji_generation",
  "query_generation",
  "image_prompt_generation",
  "autocomplete_generation",
  "function_calling",
  "moa_response_generation",
  "context_compaction",
  "memory_review"
] as const

/**
 * A string field of Open WebUI's `metadata` (`chat_id`, `task`, …), read on its own: a null or odd field (a task in a
 * new chat has `chat_id: null`) never loses the others.
 *
 * @category accessors
 */
export const metadataField = (body: Readonly<Record<string, unknown>>, field: string): string | undefined => {
  const metadata = body.metadata
  if (typeof metadata !== "object" || metadata === null || !Object.hasOwn(metadata, field)) return undefined
  const value: unknown = Object.getOwnPropertyDescriptor(metadata, field)?.value
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined
}

const templateMarker = "### Task:"

/** Which default template a task prompt came from, by the JSON it asks for. */
const inferFromTemplate = (prompt: string): string => {
  if (/"title"\s*:/.test(prompt)) return "title_generation"
  if (/"tags"\s*:/.test(prompt)) return "tags_generation"
  if (/"follow_ups"\s*:/.test(prompt)) return "follow_up_generation"
  if (/"queries"\s*:/.test(prompt)) return "query_generation"
  if (/"text"\s*:/.test(prompt)) return "autocomplete_generation"
  if (/emoji/i.test(prompt)) return "emoji_generation"
  return "unknown_task"
}

/**
 * The Open WebUI task this request is, if it is one.
 *
 * @category accessors
 */
export const detect = (request: PipeRequest.PipeRequest): Option.Option<string> => {
  if (request.task !== undefined && request.task.trim() !== "") return Option.some(request.task.trim())
  const task = metadataField(request.body, "task") ?? topLevelTask(request.body)
  if (task !== undefined) return Option.some(task)
  if (request.body.title === true) return Option.some("title_generation")
  if (request.body.stream === true) return Option.none()
  const users = request.messages.filter((message) => message.role === "user")
  const only = users[0]
  if (only === undefined || users.length !== 1) return Option.none()
  if (request.messages.some((message) => message.role !== "user" && message.role !== "system")) return Option.none()
  const text = PipeRequest.textOf(only)
  return text.trimStart().startsWith(templateMarker) ? Option.some(inferFromTemplate(text)) : Option.none()
}

/** Where a Pipelines inlet copies the task, since Open WebUI drops `metadata` before the chat request. */
const topLevelTask = (body: Readonly<Record<string, unknown>>): string | undefined =>
  typeof body.task === "string" && body.task.trim() !== "" ? body.task.trim() : undefined

const chatHistory = /<chat_history>([\s\S]*?)<\/chat_history>/

/**
 * A title made from the first user line of the chat, without asking the agent.
 *
 * @category constructors
 */
export const localTitle = (request: PipeRequest.PipeRequest, fallback: string): string => {
  const prompt = Option.match(PipeRequest.newestUserMessage(request.messages), {
    onNone: () => "",
    onSome: PipeRequest.textOf
  })
  const history = chatHistory.exec(prompt)?.[1] ?? ""
  const firstUserLine = history.split("\n").find((line) => /^\s*USER:/i.test(line))?.replace(/^\s*USER:\s*/i, "")
  const words = (firstUserLine ?? "").replace(/[^\p{L}\p{N}\s'-]/gu, " ").split(/\s+/).filter((w) => w !== "")
  if (words.length === 0) return fallback
  const title = words.slice(0, 6).join(" ")
  const capped = title.length > 48 ? `${title.slice(0, 47).trimEnd()}…` : title
  return capped.charAt(0).toUpperCase() + capped.slice(1)
}

const Tags = Schema.parseJson(Schema.Struct({ tags: Schema.Array(Schema.String) }))
const FollowUps = Schema.parseJson(Schema.Struct({ follow_ups: Schema.Array(Schema.String) }))
const Queries = Schema.parseJson(Schema.Struct({ queries: Schema.Array(Schema.String) }))
const Completion = Schema.parseJson(Schema.Struct({ text: Schema.String }))

const localAnswer = (task: string): string => {
  switch (task) {
    case "tags_generation":
      return Schema.encodeSync(Tags)({ tags: ["Letta"] })
    case "follow_up_generation":
      return Schema.encodeSync(FollowUps)({ follow_ups: [] })
    case "query_generation":
      return Schema.encodeSync(Queries)({ queries: [] })
    case "autocomplete_generation":
      return Schema.encodeSync(Completion)({ text: "" })
    case "emoji_generation":
      return "💬"
    default:
      return ""
  }
}

/**
 * The local answer to a task: a `title` event for titles, a short valid `message` for the rest, then `done`.
 *
 * @category constructors
 */
export const reply = (
  task: string,
  request: PipeRequest.PipeRequest,
  fallbackTitle: string
): ReadonlyArray<StreamEvent.StreamEvent> => {
  const answer = task === "title_generation"
    ? StreamEvent.title(localTitle(request, fallbackTitle))
    : StreamEvent.message(`task-${task}`, localAnswer(task))
  return [answer, StreamEvent.done("end_turn", null)]
}
