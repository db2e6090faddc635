/**
 * The OpenAI chat-completions wire format, and core's events rendered in it the way Open WebUI shows them best:
 * reasoning as `delta.reasoning_content`, status as `{"event":…}` chunks, usage in a final `choices: []` chunk, an error
 * as an `{"error":…}` chunk, and the agent's tool calls with their results either
 *
 * - as Open WebUI's own output items (`toolCalls: "items"`, Open WebUI 0.10 and later): a `function_call` item and its
 *   `function_call_output` item, each in a Responses-API `response.output_item.added` event inside the chat stream,
 *   which Open WebUI's middleware reads (`open_webui/utils/middleware.py`, `handle_responses_streaming_event` of
 *   `open_webui/utils/response.py`); a call whose output item arrived is never run again by its tool loop; or
 * - as `<details type="tool_calls">` blocks in the content (`"details"`, for Open WebUI up to 0.9, and for other
 *   clients that draw Open WebUI's markup); or
 * - as two readable lines in the content (`"text"`, the default for every client that is not Open WebUI; see
 *   {@link toolLines}); or not at all (`"none"`).
 *
 * Never as `delta.tool_calls`, which would make Open WebUI run them again. Only this server writes such blocks: in the
 * agent's answer and reasoning every `<details`, `</details`, `<summary` and `</summary` is broken by an invisible
 * character (see {@link tagBreaker}), also when a delta ends inside one (its end is held back until the next), since
 * Open WebUI 0.12.4 still draws a block it finds in content, with the `embeds` it names. That holds in every style:
 * an Open WebUI that sends none of its headers is not recognised, and gets the plain clients' style.
 *
 * @since 0.1.0
 */
import { ChatStream, JsonText, PipeRequest, SchemaText, type StreamEvent, StreamStage } from "@letta-pipeline/core"
import { Either, identity, Option, Schema, Stream } from "effect"

// ---------------------------------------------------------------------------------------------------------------------
// requests
// ---------------------------------------------------------------------------------------------------------------------

/** @category schemas */
export const ChatCompletionRequest = Schema.Struct({
  model: Schema.String.pipe(Schema.minLength(1, SchemaText.expected("an agent id or name"))),
  messages: PipeRequest.ChatMessages.pipe(Schema.minItems(1, SchemaText.expected("an array of at least one message"))),
  stream: Schema.optional(Schema.NullOr(Schema.Boolean)),
  stream_options: Schema.optional(Schema.NullOr(Schema.Struct({ include_usage: Schema.optional(Schema.NullOr(Schema.Boolean)) }))),
  /** Copied here by this server's Pipelines inlet: Open WebUI drops `metadata` before the chat request. */
  chat_id: Schema.optional(Schema.String),
  task: Schema.optional(Schema.String),
  /** Set by this server's Pipelines inlet: the request comes through Open WebUI. */
  openwebui: Schema.optional(Schema.Boolean),
  metadata: Schema.optional(Schema.Unknown)
})
/** @category models */
export type ChatCompletionRequest = typeof ChatCompletionRequest.Type

// ---------------------------------------------------------------------------------------------------------------------
// responses
// ---------------------------------------------------------------------------------------------------------------------

/** @category schemas */
export const Usage = Schema.Struct({
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.Number,
  total_tokens: Schema.Number,
  step_count: Schema.optional(Schema.Number),
  completion_tokens_details: Schema.optional(Schema.Struct({ reasoning_tokens: Schema.Number }))
})
/** @category models */
export type Usage = typeof Usage.Type

const Delta = Schema.Struct({
  role: Schema.optional(Schema.Literal("assistant")),
  content: Schema.optional(Schema.String),
  reasoning_content: Schema.optional(Schema.String)
})

/** @category schemas */
export const Chunk = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("chat.completion.chunk"),
  created: Schema.Number,
  model: Schema.String,
  choices: Schema.Array(Schema.Struct({
    index: Schema.Number,
    delta: Delta,
    finish_reason: Schema.NullOr(Schema.String)
  })),
  usage: Schema.optional(Usage)
})
/** @category models */
export type Chunk = typeof Chunk.Type

/**
 * An Open WebUI output item for a call Letta ran (`open_webui/utils/middleware.py` builds the same shapes for the calls
 * it runs itself). @category schemas
 */
export const FunctionCallItem = Schema.Struct({
  type: Schema.Literal("function_call"),
  id: Schema.String,
  call_id: Schema.String,
  name: Schema.String,
  arguments: Schema.String,
  status: Schema.Literal("completed")
})

/** Its result: `failed` for an error or a call that was not run. @category schemas */
export const FunctionCallOutputItem = Schema.Struct({
  type: Schema.Literal("function_call_output"),
  id: Schema.String,
  call_id: Schema.String,
  output: Schema.Tuple(Schema.Struct({ type: Schema.Literal("input_text"), text: Schema.String })),
  status: Schema.Literal("completed", "failed")
})

/**
 * A Responses-API event inside the chat stream, which Open WebUI 0.10+ applies to its output items (without
 * `output_index` an item is appended). @category schemas
 */
export const OutputItemEvent = Schema.Struct({
  type: Schema.Literal("response.output_item.added"),
  item: Schema.Union(FunctionCallItem, FunctionCallOutputItem)
})

/** Open WebUI's event envelope, forwarded to its socket. @category schemas */
export const EventChunk = Schema.Struct({
  event: Schema.Struct({ type: Schema.String, data: Schema.Unknown })
})

/** @category schemas */
export const ErrorBody = Schema.Struct({
  error: Schema.Struct({
    message: Schema.String,
    type: Schema.String,
    param: Schema.NullOr(Schema.String),
    code: Schema.NullOr(Schema.String)
  })
})
/** @category models */
export type ErrorBody = typeof ErrorBody.Type

/** @category schemas */
export const Completion = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("chat.completion"),
  created: Schema.Number,
  model: Schema.String,
  choices: Schema.Array(Schema.Struct({
    index: Schema.Number,
    message: Schema.Struct({
      role: Schema.Literal("assistant"),
      content: Schema.String,
      reasoning_content: Schema.optional(Schema.String)
    }),
    logprobs: Schema.Null,
    finish_reason: Schema.String
  })),
  usage: Usage
})
/** @category models */
export type Completion = typeof Completion.Type

/** Everything a stream can carry in `data:`. @category schemas */
export const StreamData = Schema.parseJson(Schema.Union(Chunk, EventChunk, OutputItemEvent, ErrorBody))

/**
 * One `data:` payload (a value of {@link StreamData}'s type, whose encoding is the identity: `JSON.stringify` writes it
 * directly, without a union match per chunk): its JSON with U+0085, U+2028 and U+2029 escaped too (`JSON.stringify` leaves them raw), so
 * that the line stays one line for readers that split by Unicode line boundaries: Python's `str.splitlines`, which
 * Open WebUI's `update_assistant_message_from_stream` (`open_webui/utils/middleware.py`) runs on each streamed chunk
 * (the other boundaries it knows are control characters, which JSON escapes).
 */
const encodeData = (data: typeof StreamData.Type): string => escapeLineBreaks(JSON.stringify(data))

/**
 * `encodeData` for the payloads of one response, with its chunks' envelope serialised once: a one-choice chunk without
 * usage (every token's) is that envelope's JSON around its delta's, the same bytes `encodeData` writes (the keys in the
 * order `renderer`'s `chunk` gives them) without building and walking the envelope per token.
 */
const payloadEncoder = (options: Pick<RenderOptions, "id" | "created" | "model">) => {
  const head = escapeLineBreaks(
    `${JSON.stringify({ id: options.id, object: "chat.completion.chunk", created: options.created, model: options.model }).slice(0, -1)},"choices":[{"index":0,"delta":`
  )
  const fieldHead = { content: `${head}{"content":`, reasoning_content: `${head}{"reasoning_content":` }
  return {
    payload: (payload: typeof StreamData.Type): string => {
      if (!("choices" in payload) || payload.usage !== undefined || payload.choices.length !== 1) return encodeData(payload)
      const [choice] = payload.choices
      if (
        choice === undefined || choice.index !== 0 || payload.id !== options.id || payload.created !== options.created ||
        payload.model !== options.model
      ) return encodeData(payload)
      return `${head}${escapeLineBreaks(JSON.stringify(choice.delta))},"finish_reason":${JSON.stringify(choice.finish_reason)}}]}`
    },
    /** A chunk whose delta is `{[field]: text}` and nothing else, without building it. */
    text: (field: TextField, text: string): string =>
      `${fieldHead[field]}${escapeLineBreaks(JSON.stringify(text))}},"finish_reason":null}]}`
  }
}

/** U+0085, U+2028 and U+2029 as JSON escapes; most payloads have none, and are returned as they are. */
const escapeLineBreaks = (json: string): string =>
  /[\u0085\u2028\u2029]/.test(json)
    ? json.replace(/[\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
    : json

// ---------------------------------------------------------------------------------------------------------------------
// rendering
// ---------------------------------------------------------------------------------------------------------------------

/** Letta's stop reason as OpenAI's `finish_reason`. @category constructors */
export const finishReason = (stopReason: string | null): string => {
  switch (stopReason) {
    case "max_steps":
    case "max_tokens_exceeded":
    case "context_window_overflow_in_system_prompt":
      return "length"
    default:
      return "stop"
  }
}

const entities: ReadonlyMap<string, string> = new Map([
  ["&", "&amp;"],
  ["\"", "&quot;"],
  ["<", "&lt;"],
  [">", "&gt;"],
  ["'", "&#39;"]
])

/**
 * A tool block's attribute value, written so that Open WebUI reads back exactly `text` (the rules, from Open WebUI
 * 0.12.4's `src/lib/utils/marked/extension.ts` unless named):
 * - the tag ends at the first `>` (`/^<details(\s+[^>]*)?>\n/`) and a value at the first `"` (`/(\w+)="(.*?)"/g`),
 *   whose `.` stops at a line terminator (`\n`, `\r`, U+2028, U+2029; marked also turns `\r` into `\n`): the five
 *   HTML characters and the four line terminators become character references;
 * - before that the whole content is rewritten: `{{user}}`, `{{HTML_FILE_ID_…}}`… by `replaceTokens`, `*…*` next to
 *   Chinese text by `processResponseContent` (`src/lib/utils/index.ts`), `[1]` by the citation filter
 *   (`ContentRenderer.svelte`): a `{` before `{`, every `*` and a `[` before a digit become references too;
 * - `ToolCallDisplay.svelte` decodes the values with html-entities' `decode`, which turns every reference back.
 */
const attribute = (text: string): string =>
  text.replace(/[&"'<>\n\r\u2028\u2029*]|\{(?=\{)|\[(?=\d)/g, (c) => entities.get(c) ?? `&#${c.charCodeAt(0)};`)

const encodeJson = Schema.encodeSync(Schema.parseJson())

/**
 * The longest line this server writes in an OpenAI stream, `data: ` and its line end included. Open WebUI versions
 * still in use read an upstream stream line by line with a 128 KiB limit ("Got more than 131072 bytes when reading"),
 * so longer content is split over several deltas, which Open WebUI joins before it parses them.
 *
 * @category constants
 */
export const maxLineBytes = 64 * 1024

/** Default of `PIPELINE_TOOL_RESULT_MAX`: how much of a tool's result (and arguments) a tool block shows. @category constants */
export const defaultToolResultMax = 16 * 1024

const utf8 = new TextEncoder()

/** The longest start of `text` that is at most `max` bytes of UTF-8, never splitting a character. */
const cutUtf8 = (text: string, max: number): string => {
  if (text.length * 3 <= max) return text
  const { read } = utf8.encodeInto(text, new Uint8Array(max))
  return text.slice(0, read)
}

/** Text shown in a tool block: whole up to `max` bytes, else its start and a note that it was cut. */
const shown = (text: string, max: number): string => {
  const cut = cutUtf8(text, max)
  if (cut.length === text.length) return text
  return `${cut}\n… [cut: the first ${utf8.encode(cut).length} of ${utf8.encode(text).length} bytes are shown; ` +
    "the whole text is in Letta]"
}

/** Bytes a UTF-16 code unit takes inside a JSON string (JSON.stringify's escapes and this file's, UTF-8). */
const jsonBytes = (code: number): number =>
  code === 0x22 || code === 0x5c
    ? 2
    : code < 0x20
    ? (code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d ? 2 : 6)
    : code < 0x80
    ? 1
    : code === 0x85 || code === 0x2028 || code === 0x2029
    ? 6 // escaped by `encodeData`
    : code < 0x800
    ? 2
    : code >= 0xd800 && code <= 0xdfff
    ? 6 // a lone surrogate is escaped; a pair is counted below
    : 3

/**
 * `text` in pieces whose JSON string encodings take at most `budget` bytes each (surrogate pairs stay whole).
 *
 * @category constructors
 */
export const pieces = (text: string, budget: number): ReadonlyArray<string> => {
  // a short delta (nearly every token) cannot exceed the budget: no need to measure it
  if (text.length * 6 <= budget) return [text]
  const out: Array<string> = []
  let start = 0
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    const pair = code >= 0xd800 && code <= 0xdbff && i + 1 < text.length &&
      text.charCodeAt(i + 1) >= 0xdc00 && text.charCodeAt(i + 1) <= 0xdfff
    const cost = pair ? 4 : jsonBytes(code)
    if (bytes + cost > budget && i > start) {
      out.push(text.slice(start, i))
      start = i
      bytes = 0
    }
    bytes += cost
    if (pair) i++
  }
  out.push(text.slice(start))
  return out
}

/** Valid JSON text re-encoded compactly (no raw newlines); anything else, too deep JSON included, as a JSON string. */
const asJson = (text: string): string =>
  Either.match(JsonText.parse(text), { onLeft: () => encodeJson(text), onRight: encodeJson })

/**
 * Open WebUI's tool block: a call and its result, rendered collapsed ("View Result from name"). Arguments and result
 * longer than `max` bytes are cut, with a note (the native event stream keeps them whole). The tag is one line
 * whatever the values hold: `<details type="tool_calls" done="true" id="…" name="…" arguments="…" result="…" files=""
 * embeds="">`, then `<summary>Tool Executed</summary>`, `</details>`; each value written as Open WebUI reads it back
 * (see `attribute`).
 *
 * @category constructors
 */
export const toolBlock = (
  call: { readonly id: string; readonly name: string; readonly arguments: string },
  result: string,
  max: number = defaultToolResultMax
): string => {
  const args = call.arguments === "" ? "{}" : call.arguments
  const shownArgs = shown(args, max)
  return `<details type="tool_calls" done="true" id="${attribute(call.id)}" name="${attribute(call.name)}" ` +
    `arguments="${attribute(shownArgs === args ? asJson(args) : encodeJson(shownArgs))}" ` +
    `result="${attribute(encodeJson(shown(result, max)))}" files="" embeds="">\n<summary>Tool Executed</summary>\n</details>\n`
}

/**
 * How tool calls are shown: Open WebUI's output items, `<details>` blocks in the content, readable lines in the content
 * ({@link toolLines}), or not at all.
 *
 * @category models
 */
export type ToolCallStyle = "items" | "details" | "text" | "none"

/**
 * A call and its result as Open WebUI output items. Arguments and result are cut as in {@link toolBlock} and, should
 * their JSON still not fit one stream line, to what does.
 *
 * @category constructors
 */
export const toolItems = (
  call: { readonly id: string; readonly name: string; readonly arguments: string },
  result: { readonly status: "success" | "error" | "not_run"; readonly output: string },
  max: number = defaultToolResultMax
): readonly [
  { readonly type: "response.output_item.added"; readonly item: typeof FunctionCallItem.Type },
  { readonly type: "response.output_item.added"; readonly item: typeof FunctionCallOutputItem.Type }
] => {
  // each item is one line: its text must fit a line less the item's envelope
  const fit = (text: string) => {
    const cut = shown(text, max)
    const first = pieces(cut, itemBudget)[0] ?? ""
    // the note added by the cut takes under 200 bytes
    return first.length === cut.length ? cut : shown(text, Math.min(max, utf8.encode(first).length - 200))
  }
  return [
    {
      type: "response.output_item.added",
      item: {
        type: "function_call",
        id: `fc_${call.id}`,
        call_id: call.id,
        name: call.name,
        arguments: fit(call.arguments === "" ? "{}" : call.arguments),
        status: "completed"
      }
    },
    {
      type: "response.output_item.added",
      item: {
        type: "function_call_output",
        id: `fco_${call.id}`,
        call_id: call.id,
        output: [{ type: "input_text", text: fit(result.output) }],
        status: result.status === "success" ? "completed" : "failed"
      }
    }
  ]
}

/** Room for an item's text in one stream line: the limit less a generous envelope (ids and names are short). */
const itemBudget = maxLineBytes - 4096

/** How many characters of a call's arguments, and of its result, a text line shows. @category constants */
export const toolTextMax = 200

/**
 * Runs of what must not reach a text line as it is: white space and line terminators (`\s`, U+2028 and U+2029
 * included), C0 and C1 controls (U+0085, and ESC, which would let a tool's result drive a terminal), and the
 * invisible format characters that reorder or hide text (bidirectional marks, overrides and isolates, the zero-width
 * space, U+2060 to U+206F). The zero-width (non-)joiner stays: emoji sequences and some scripts need it.
 */
const notInLine = /[\s\u0000-\u001f\u007f-\u009f\u200b\u200e\u200f\u202a-\u202e\u2060-\u206f\ufeff]+/g

/** `text` on one line of at most `max` characters (code points), each run of {@link notInLine} one space; `…` if cut. */
const oneLine = (text: string, max: number): string => {
  // a result can be megabytes: only its start is looked at
  const start = text.length > max * 8 ? text.slice(0, max * 8).replace(/[\ud800-\udbff]$/, "") : text
  const flat = [...start.replace(notInLine, " ").trim()]
  const cut = flat.length > max || start.length < text.length
  return cut ? `${flat.slice(0, max - 1).join("").trimEnd()}…` : flat.join("")
}

/**
 * `text` as a Markdown code span: nothing in it is then drawn (no image or link a tool's result names is fetched or
 * offered, no HTML, no emphasis), and a terminal shows it between backticks. Its fence is longer than any run of
 * backticks inside (CommonMark's rule); a space pads text that starts or ends with one.
 */
const codeSpan = (text: string): string => {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length))
  const fence = "`".repeat(longest + 1)
  const pad = text.startsWith("`") || text.endsWith("`") ? " " : ""
  return `${fence}${pad}${text}${pad}${fence}`
}

/**
 * A call and its result as two lines of text, for clients that show the content as it is (a terminal) or as Markdown:
 *
 * ```text
 * → `web_search({"query":"x"})`
 * ← `web_search: Found 3 results for "x": …`
 * ```
 *
 * Each line holds its call or result whole up to {@link toolTextMax} characters, on one line (see `notInLine`), in a
 * code span, with the tool's `<details`/`<summary` tags neutralised as in the agent's text; arguments are compact JSON
 * when they are JSON. `call` is the call's line, `result` the result's: `name: output`, `name failed: output` for an
 * error (a call that never ran says so in its output). Each line ends with two spaces, Markdown's line break, so
 * that a renderer keeps the two apart; the renderer puts a blank line between them and the agent's text.
 *
 * @category constructors
 */
export const toolLines = {
  call: (call: { readonly name: string; readonly arguments: string }): string => {
    const args = call.arguments === "" ? "" : Either.getOrElse(Either.map(JsonText.parse(call.arguments), encodeJson), () => call.arguments)
    return `→ ${codeSpan(neutralise(`${oneLine(call.name, 100)}(${oneLine(args, toolTextMax)})`))}  \n`
  },
  result: (
    call: { readonly name: string },
    result: { readonly status: "success" | "error" | "not_run"; readonly output: string }
  ): string => {
    const output = oneLine(result.output, toolTextMax)
    const line = `${oneLine(call.name, 100)}${result.status === "error" ? " failed" : ""}: ${output === "" ? "(empty)" : output}`
    return `← ${codeSpan(neutralise(line))}  \n`
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// the agent's text
// ---------------------------------------------------------------------------------------------------------------------

/**
 * What is put after the `<` of a tag that could make Open WebUI draw a block: U+2060 WORD JOINER, invisible and no
 * break opportunity. Not an entity such as `&lt;`: Open WebUI decodes the text of reasoning and other `<details>`
 * blocks with html-entities' `decode` before it lexes it again (`detailsTokenizer`, `src/lib/utils/marked/extension.ts`),
 * which would give the tag back; nor a character in JavaScript's or Python's `\s`. With it the text still reads
 * `<details`, yet no parser of Open WebUI sees a tag: its block rule, `/^<details(\s+[^>]*)?>\n/`, and
 * `findMatchingClosingTag` look for `<details` and `</details>` as they are, `processDetails` and `removeAllDetails`
 * (`src/lib/utils/index.ts`) for `<details` in any letter case, marked's HTML rules need a letter after `<` or `</`.
 *
 * @category constants
 */
export const tagBreaker = "\u2060"

/** The tags neutralised, lower case; each starts with the one `<` it has. */
const markupTags: ReadonlyArray<string> = ["<details", "</details", "<summary", "</summary"]

// ASCII letter case only, as in HTML and in Open WebUI's `/i` expressions (no `u` flag: `ſ` is not `s` there)
const markupTag = /<(?=\/?(?:details|summary))/gi

const asciiLower = (text: string): string => text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32))

/**
 * The agent's text with every `<details`, `</details`, `<summary` and `</summary` (any letter case) broken by
 * {@link tagBreaker} after its `<`: only this server writes tool blocks. Text without them is unchanged.
 *
 * @category constructors
 */
export const neutralise = (text: string): string => text.replace(markupTag, `<${tagBreaker}`)

/** How long the end of `text` is that could still become one of the tags, once more text follows (0 to 8). */
const partialTagLength = (text: string): number => {
  const at = text.lastIndexOf("<")
  if (at === -1) return 0
  const tail = asciiLower(text.slice(at))
  return markupTags.some((tag) => tag.length > tail.length && tag.startsWith(tail)) ? text.length - at : 0
}

/**
 * One delta of streamed agent text, neutralised across deltas: `held` is what an earlier delta held back, the result
 * is what to send now and what to hold back in turn, a trailing `<`, `<d`, … `</summar` (any case) that the next delta
 * could complete. `{text, held}` joined over a whole text give {@link neutralise} of it.
 *
 * @category constructors
 */
export const neutraliseDelta = (held: string, delta: string): { readonly text: string; readonly held: string } => {
  const text = neutralise(held + delta)
  const keep = partialTagLength(text)
  return { text: text.slice(0, text.length - keep), held: text.slice(text.length - keep) }
}

/**
 * What was held back, when it has to be sent before the text it belongs to goes on (another kind of output comes
 * first): broken after its `<`, since text sent later could still complete the tag in a client that joins it.
 */
const heldBroken = (held: string): string => (held === "" ? "" : `<${tagBreaker}${held.slice(1)}`)

/** What a task reply looks like as content: the JSON its template asks for. */
const titleJson = Schema.encodeSync(Schema.parseJson(Schema.Struct({ title: Schema.String })))

/** @category models */
export interface RenderOptions {
  readonly id: string
  readonly created: number
  readonly model: string
  readonly includeUsage: boolean
  readonly statusEvents: boolean
  /** How much of a tool's result a tool block shows, in bytes (`PIPELINE_TOOL_RESULT_MAX`). */
  readonly toolResultMax?: number | undefined
  /** How tool calls are shown. */
  readonly toolCalls: ToolCallStyle
}

/** The renderer's state: one per response, changed in place as events come (a copy per event cost more than the rest). */
interface RenderState {
  lastMessageId: string | null
  lastReasoningId: string | null
  /** Whether the content written so far ends a line (a tool block must start one). */
  atLineStart: boolean
  /** The content's last two characters ("" before any): where a tool's text lines need a blank line before them. */
  tail: string
  /** Whether the content written last is a tool's text line: the agent's text then starts after a blank line. */
  afterTool: boolean
  /** The end of the agent's answer and reasoning held back: it could start a tag (see `neutraliseDelta`). */
  heldContent: string
  heldReasoning: string
  /** Calls by id, for their results. */
  readonly calls: Map<string, StreamEvent.Of<"tool_call">["data"]>
  usage: Option.Option<Usage>
}

const usageOf = (data: StreamEvent.Of<"usage">["data"]): Usage => ({
  prompt_tokens: data.prompt_tokens,
  completion_tokens: data.completion_tokens,
  total_tokens: data.total_tokens,
  ...(data.step_count === undefined ? {} : { step_count: data.step_count }),
  ...(data.reasoning_tokens === undefined ? {} : { completion_tokens_details: { reasoning_tokens: data.reasoning_tokens } })
})

type Output = typeof Chunk.Type | typeof EventChunk.Type | typeof OutputItemEvent.Type | typeof ErrorBody.Type

/** Which text a one-field delta carries: the answer or the reasoning. */
type TextField = "content" | "reasoning_content"

/**
 * Where the renderer puts what it renders, in order: `text` for a chunk whose delta is only that text (nearly every
 * output: each token), `output` for every other payload.
 */
interface Sink {
  readonly text: (field: TextField, text: string) => void
  readonly output: (output: Output) => void
}

const errorType = (error: StreamEvent.Of<"error">["data"]): string =>
  error.error === "LettaError" ? "letta_error" : "upstream_error"

/** Longest status description or error message written in one chunk (both are short by nature). */
const maxNoteChars = 4096

const note = (text: string): string => (text.length <= maxNoteChars ? text : `${text.slice(0, maxNoteChars - 1)}…`)

/** A delta of agent text neutralised (`neutraliseDelta`): as it is when nothing is held and it has no `<`. */
const neutralisedDelta = (held: string, delta: string): { readonly text: string; readonly held: string } =>
  held === "" && !delta.includes("<") ? { text: delta, held: "" } : neutraliseDelta(held, delta)

/**
 * The renderer both the stream and the whole completion are made from, for one response: `step` renders an event,
 * `end` what is still held back once the events are over, into `sink`.
 */
const renderer = (options: RenderOptions, sink: Sink) => {
  const chunk = (delta: typeof Delta.Type, finish: string | null = null): typeof Chunk.Type => ({
    id: options.id,
    object: "chat.completion.chunk",
    created: options.created,
    model: options.model,
    choices: [{ index: 0, delta, finish_reason: finish }]
  })
  // what a delta may hold: the line limit less the rest of its chunk (`data: `, the envelope, two line ends)
  const budget = Math.max(1024, maxLineBytes - utf8.encode(`data: ${encodeData(chunk({ reasoning_content: "" }))}\n\n`).length)
  const toolResultMax = options.toolResultMax ?? defaultToolResultMax
  const state: RenderState = {
    lastMessageId: null,
    lastReasoningId: null,
    atLineStart: true,
    tail: "",
    afterTool: false,
    heldContent: "",
    heldReasoning: "",
    calls: new Map(),
    usage: Option.none()
  }

  /** `text` as chunks of `field`, each within a line; content also moves the tail. */
  const sendPiece = (field: TextField, piece: string) => {
    if (field === "content") state.tail = (state.tail + piece).slice(-2)
    sink.text(field, piece)
  }
  const send = (field: TextField, text: string) => {
    if (text === "") return
    // a short text (nearly every token) is one piece: `pieces` would say so, in an array
    if (text.length * 6 <= budget) return sendPiece(field, text)
    for (const piece of pieces(text, budget)) sendPiece(field, piece)
  }

  /**
   * Sends what was held back. At the end of the turn as it is; before other output, broken (`heldBroken`): the text
   * it belongs to may go on after that output.
   */
  const release = (end: boolean) => {
    const content = end ? state.heldContent : heldBroken(state.heldContent)
    const reasoning = end ? state.heldReasoning : heldBroken(state.heldReasoning)
    state.heldContent = ""
    state.heldReasoning = ""
    if (content !== "") state.atLineStart = false
    send("reasoning_content", reasoning)
    send("content", content)
  }

  /** Output of this server (a tool block, a task reply), after whatever was held back. */
  const serverContent = (text: string) => {
    release(false)
    state.atLineStart = text.endsWith("\n")
    send("content", text)
  }

  const block = (text: string) => serverContent((state.atLineStart && state.heldContent === "" ? "" : "\n") + text)

  const agentContent = (next: string) => {
    // reasoning held back is sent first, so that it stays in its place
    const reasoning = heldBroken(state.heldReasoning)
    // after a tool's lines: one blank line, whatever separator the text brought
    const delta = state.afterTool && next !== "" ? `\n${next.replace(/^\n+/, "")}` : next
    const { held, text } = neutralisedDelta(state.heldContent, delta)
    state.afterTool = state.afterTool && delta === ""
    state.heldReasoning = ""
    state.heldContent = held
    state.atLineStart = held !== "" ? false : text === "" ? state.atLineStart : text.endsWith("\n")
    send("reasoning_content", reasoning)
    send("content", text)
  }

  const agentReasoning = (delta: string) => {
    const content = heldBroken(state.heldContent)
    const { held, text } = neutralisedDelta(state.heldReasoning, delta)
    state.heldContent = ""
    state.heldReasoning = held
    if (content !== "") state.atLineStart = false
    send("content", content)
    send("reasoning_content", text)
  }

  /** A tool's text lines: after a blank line, unless they start the content or follow other tool lines. */
  const toolText = (lines: string) => {
    const afterTool = state.afterTool
    release(false)
    // the tail once what was held back is sent
    const tail = state.tail
    const lead = afterTool || tail === "" || tail === "\n\n" ? "" : tail.endsWith("\n") ? "\n" : "\n\n"
    state.atLineStart = true
    state.afterTool = true
    send("content", lead + lines)
  }

  const shownCall = (
    call: { readonly id: string; readonly name: string; readonly arguments: string },
    result: { readonly status: "success" | "error" | "not_run"; readonly output: string },
    /** Whether the call's own line goes with its result (text style: when it was not sent as the call came). */
    callLine: boolean
  ) => {
    switch (options.toolCalls) {
      case "details":
        return block(toolBlock(call, result.output, toolResultMax))
      case "text":
        return toolText((callLine ? toolLines.call(call) : "") + toolLines.result(call, result))
      case "none":
        return release(false)
      case "items": {
        release(false)
        // Open WebUI starts new reasoning and message items after these: no separator is needed there
        state.lastMessageId = null
        state.lastReasoningId = null
        for (const item of toolItems(call, result, toolResultMax)) sink.output(item)
      }
    }
  }

  const step = (event: StreamEvent.StreamEvent): void => {
    switch (event.type) {
      case "message": {
        const previous = state.lastMessageId
        state.lastMessageId = event.data.id
        return agentContent(ChatStream.separated(previous, event.data.id, event.data.content))
      }
      case "reasoning": {
        const previous = state.lastReasoningId
        state.lastReasoningId = event.data.id
        return agentReasoning(ChatStream.separated(previous, event.data.id, event.data.content))
      }
      case "tool_call": {
        state.calls.set(event.data.id, event.data)
        if (event.data.requires_approval) {
          return shownCall(event.data, { status: "not_run", output: "Waiting for approval: approve or deny it in Letta" }, true)
        }
        // as text the call shows at once: a reader sees what runs while it runs
        return options.toolCalls === "text" ? toolText(toolLines.call(event.data)) : undefined
      }
      case "tool_result":
        // as text a call's line was sent when it came; a result without its call has no line for it
        return shownCall(state.calls.get(event.data.id) ?? { ...event.data, arguments: "" }, event.data, false)
      case "status":
        if (options.statusEvents) {
          sink.output({ event: { type: "status", data: { ...event.data, description: note(event.data.description), hidden: false } } })
        }
        return
      case "title":
        return serverContent(titleJson({ title: event.data.title }))
      case "usage":
        state.usage = Option.some(usageOf(event.data))
        return
      case "done": {
        release(true)
        sink.output(chunk({}, finishReason(event.data.stop_reason)))
        if (options.includeUsage) {
          sink.output({
            id: options.id,
            object: "chat.completion.chunk",
            created: options.created,
            model: options.model,
            choices: [],
            usage: Option.getOrElse(state.usage, () => noUsage)
          })
        }
        return
      }
      case "error":
        release(true)
        return sink.output({
          error: { message: note(event.data.message), type: errorType(event.data), param: null, code: event.data.reason }
        })
    }
  }

  return {
    first: chunk({ role: "assistant", content: "" }),
    step,
    /** The end of the events, however they end: what is still held back. */
    end: () => release(true),
    usage: () => state.usage
  }
}

const noUsage: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }

/**
 * The renderer as the handlers of one stream stage, with fresh state: the opening chunk, each event's outputs
 * (`encode`d), what is still held back at the end, then `trailer`. A failure either fails the stream after what was held
 * back, or (`failure` gives an `event`) is rendered as that event, and the stream then ends as a clean end does.
 */
const renderingHandlers = <E, E2>(
  options: RenderOptions,
  frame: (json: string) => string,
  failure: (error: E) => { readonly event?: StreamEvent.StreamEvent; readonly end: true | { readonly error: E2 } },
  trailer: ReadonlyArray<string>
): StreamStage.Handlers<StreamEvent.StreamEvent, string, E, E2> => {
  const encoder = payloadEncoder(options)
  // where the renderer's outputs go, encoded: the frames of the chunk being handled
  let frames: Array<string> = []
  const { end, first, step } = renderer(options, {
    text: (field, text) => void frames.push(frame(encoder.text(field, text))),
    output: (output) => void frames.push(frame(encoder.payload(output)))
  })
  let started = false
  /** A fresh list of frames, the opening chunk's first the first time. */
  const opening = (): Array<string> => {
    frames = started ? [] : [frame(encoder.payload(first))]
    started = true
    return frames
  }
  const closing = (ending: true | { readonly error: E2 }) => {
    end()
    for (const line of trailer) frames.push(line)
    return { emit: frames, end: ending }
  }
  return {
    onChunk: (chunk) => {
      opening()
      for (const event of chunk) step(event)
      return { emit: frames }
    },
    onFailure: (error) => {
      opening()
      const { end: ending, event } = failure(error)
      if (event !== undefined) step(event)
      return closing(ending)
    },
    onEnd: () => {
      opening()
      return closing(true)
    }
  }
}

/**
 * Core's events as the `data:` payloads of an OpenAI chat-completion stream (without the final `[DONE]`).
 *
 * @category combinators
 */
export const toChunks = (options: RenderOptions) =>
<E, R>(events: Stream.Stream<StreamEvent.StreamEvent, E, R>): Stream.Stream<string, E, R> =>
  Stream.suspend(() =>
    events.pipe(StreamStage.stage(renderingHandlers<E, E>(options, identity, (error) => ({ end: { error } }), [])))
  )

/**
 * The handlers of a whole OpenAI chat-completion response stream, with fresh state: each event rendered (`toChunks`),
 * framed as `data: …` and, at the end, `data: [DONE]`. A failure becomes its `error` event (`toError`), then the
 * stream ends as a clean end does. For a response written chunk by chunk (`SseResponse.responder`); as a stream stage,
 * `StreamStage.stage(sseFrames(…))`.
 *
 * @category combinators
 */
export const sseFrames = <E>(
  options: RenderOptions,
  toError: (error: E) => StreamEvent.StreamEvent
): StreamStage.Handlers<StreamEvent.StreamEvent, string, E, never> =>
  renderingHandlers<E, never>(
    options,
    // `encodeData` leaves no line break in a payload, so each is one `data:` line (as `SseResponse.data` writes it)
    (json) => `data: ${json}\n\n`,
    (error) => ({ event: toError(error), end: true }),
    [doneFrame]
  )

const doneFrame = "data: [DONE]\n\n"

/**
 * A whole turn as one chat completion: the content a stream would have shown (tool calls as `options.toolCalls` says,
 * Open WebUI's items as blocks), reasoning in `message.reasoning_content` (neutralised as in the stream), usage.
 *
 * @category constructors
 */
export const toCompletion = (
  options: Omit<RenderOptions, "includeUsage" | "statusEvents">,
  events: ReadonlyArray<StreamEvent.StreamEvent>,
  turn: ChatStream.Turn
): Completion => {
  // a completion has only content: Open WebUI's items become its blocks there
  const toolCalls = options.toolCalls === "items" ? "details" : options.toolCalls
  let content = ""
  let reasoning = ""
  const { end, step, usage } = renderer({ ...options, includeUsage: false, statusEvents: false, toolCalls }, {
    text: (field, text) => {
      if (field === "content") content += text
      else reasoning += text
    },
    output: (output) => {
      // the finish chunk (its delta empty) and errors; no item or status here
      if (!("choices" in output)) return
      for (const choice of output.choices) {
        content += choice.delta.content ?? ""
        reasoning += choice.delta.reasoning_content ?? ""
      }
    }
  })
  for (const event of events) step(event)
  end()
  return {
    id: options.id,
    object: "chat.completion",
    created: options.created,
    model: options.model,
    choices: [{
      index: 0,
      message: { role: "assistant", content, ...(reasoning === "" ? {} : { reasoning_content: reasoning }) },
      logprobs: null,
      finish_reason: finishReason(turn.stopReason)
    }],
    usage: Option.getOrElse(usage(), () => noUsage)
  }
}

/** @category encoding */
export const encodeCompletion = Schema.encodeSync(Schema.parseJson(Completion))
/** @category encoding */
export const encodeError = Schema.encodeSync(Schema.parseJson(ErrorBody))
