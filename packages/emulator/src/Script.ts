/**
 * The emulator's deterministic agent: what it thinks, which tool it calls and what it answers, from the user's message
 * and the conversation so far. Pure; ids and dates come from the caller.
 *
 * - Every turn: reasoning, then an answer that quotes the message and the previous one of the thread.
 * - A message containing `[[tool]]`, or asking to "search for …"/"look up …", first calls `web_search` and gets its
 *   result back (a second LLM response, as Letta runs tools between steps).
 * - `[[call:<id>]]` does the same with that `tool_call_id` (e.g. `[[call:__proto__]]`), for ids a model could choose.
 * - "my name is <Name>" calls `core_memory_append` to add `Name: <Name>` to the `human` block (the turn applies it),
 *   then greets; "what is my name" answers from the agent's `human` block as it is at turn time, so an answer tells
 *   whose memory it came from.
 *
 * @since 0.1.0
 */
import type { LettaSchema } from "@letta-pipeline/core"
import * as Wire from "./Wire.js"

/** @category models */
export interface ToolUse {
  readonly name: string
  readonly callId: string
  readonly arguments: string
  readonly result: string
  /** What the tool writes into the agent's memory, applied when its return is recorded (`core_memory_append`). */
  readonly append?: { readonly label: string; readonly content: string }
}

/** One LLM response: what the model thought, then a tool call or an answer. @category models */
export interface Step {
  readonly reasoning: string
  readonly tool?: ToolUse
  readonly answer?: string
}

/** @category models */
export interface Input {
  readonly text: string
  readonly agentName: string
  /** Earlier user messages of this thread, oldest first. */
  readonly earlier: ReadonlyArray<string>
  /** The agent's `human` block as it is now (empty when it has none). */
  readonly human: string
}

const markers = /\[\[[a-z]+(?::[a-z0-9:_-]+)?\]\]/gi

/** The user's words without emulator markers. @category constructors */
export const clean = (text: string): string => text.replace(markers, "").replace(/\s+/g, " ").trim()

const searchRequest = /\b(?:search(?: the web)? for|look up)\s+(.+)/i

const callMarker = /\[\[call:([a-z0-9_-]+)\]\]/i

const toolQuery = (text: string): string | undefined => {
  const asked = searchRequest.exec(clean(text))?.[1]
  if (asked !== undefined) return asked.replace(/[?.!]+$/, "")
  return /\[\[tool\]\]/i.test(text) || callMarker.test(text) ? clean(text) || "letta" : undefined
}

const namePattern = /\bmy name is ([a-z]+)\b/i
const nameQuestion = /\bwhat is my name\b/i

/** The last `Name: …` line of a `human` block. */
const knownName = (human: string): string | undefined =>
  Array.from(human.matchAll(/^Name: (.+)$/gm)).at(-1)?.[1]?.trim()

/**
 * The steps of one turn; a tool call takes `generatedCallId` unless the message names one (`[[call:<id>]]`).
 *
 * @category constructors
 */
export const plan = (input: Input, generatedCallId: string): ReadonlyArray<Step> => {
  const callId = callMarker.exec(input.text)?.[1] ?? generatedCallId
  const said = clean(input.text)
  const previous = input.earlier.at(-1)
  const memory = previous === undefined
    ? "This is the start of our conversation."
    : `Before that you said: "${clean(previous)}".`
  const told = namePattern.exec(said)?.[1]
  if (told !== undefined) {
    const content = `Name: ${told}`
    return [
      {
        reasoning: `The user told me their name, ${told}. I will remember it with core_memory_append.`,
        tool: {
          name: "core_memory_append",
          callId,
          arguments: Wire.json({ label: "human", content }),
          // Letta's core_memory_append returns nothing, which its tool return writes as "None"
          result: "None",
          append: { label: "human", content }
        }
      },
      {
        reasoning: "My memory of the user is updated; I will greet them.",
        answer: `Nice to meet you, ${told}. I will remember that.`
      }
    ]
  }
  if (nameQuestion.test(said)) {
    const name = knownName(input.human)
    return [{
      reasoning: "The user asks for their name; I will read it from my memory of them.",
      answer: name === undefined ? "I do not know your name yet." : `Your name is ${name}.`
    }]
  }
  const query = toolQuery(input.text)
  if (query === undefined) {
    return [{
      reasoning: `The user said "${said}". This is message ${input.earlier.length + 1} of our conversation.`,
      answer: `You said: "${said}". I am ${input.agentName}, an emulated Letta agent. ${memory}`
    }]
  }
  const result = `Found 3 results for "${query}": Letta documentation, Letta blog, Letta on GitHub.`
  return [
    {
      reasoning: `The user wants me to search for "${query}". I will call web_search.`,
      tool: { name: "web_search", callId, arguments: Wire.json({ query }), result }
    },
    {
      reasoning: "web_search returned 3 results; I will summarise them.",
      answer: `I searched for "${query}" and found 3 results: Letta documentation, Letta blog, Letta on GitHub. ${memory}`
    }
  ]
}

/** Splits text into deltas of `size` characters, never inside a surrogate pair. @category constructors */
export const tokens = (text: string, size: number): ReadonlyArray<string> => {
  const characters = Array.from(text)
  const out: Array<string> = []
  for (let i = 0; i < characters.length; i += size) out.push(characters.slice(i, i + size).join(""))
  return out
}

// ---------------------------------------------------------------------------------------------------------------------
// wire messages
// ---------------------------------------------------------------------------------------------------------------------

/** Ids and time of one LLM response. @category models */
export interface Response {
  readonly messageId: string
  readonly stepId: string
  readonly runId: string
  readonly date: string
}

const head = (response: Response, index: number) => ({
  id: response.messageId,
  date: response.date,
  name: null,
  otid: Wire.otid(response.messageId, index),
  sender_id: null,
  step_id: response.stepId,
  is_err: null,
  seq_id: null,
  run_id: response.runId
})

/** @category constructors */
export const reasoning = (response: Response, text: string): LettaSchema.LettaMessage => ({
  ...head(response, 0),
  message_type: "reasoning_message",
  source: "reasoner_model",
  reasoning: text,
  signature: null
})

/** @category constructors */
export const assistant = (response: Response, text: string): LettaSchema.LettaMessage => ({
  ...head(response, 1),
  message_type: "assistant_message",
  content: text
})

/** A tool call: complete (step mode, `tool_calls` an array) or one delta (token mode, one object in both keys). */
export const toolCall = (
  response: Response,
  call: LettaSchema.ToolCallDelta,
  complete: boolean
): LettaSchema.LettaMessage => ({
  ...head(response, 1),
  message_type: "tool_call_message",
  tool_call: call,
  tool_calls: complete ? [call] : call
})

/** @category constructors */
export const toolReturn = (response: Response, tool: ToolUse): LettaSchema.LettaMessage => ({
  ...head(response, 0),
  message_type: "tool_return_message",
  tool_return: tool.result,
  status: "success",
  tool_call_id: tool.callId,
  stdout: null,
  stderr: null,
  tool_returns: [{
    type: "tool",
    tool_return: tool.result,
    status: "success",
    tool_call_id: tool.callId,
    stdout: null,
    stderr: null
  }]
})

/** The user's message as stored in history. @category constructors */
export const userMessage = (
  ids: { readonly messageId: string; readonly runId: string; readonly date: string },
  text: string
): LettaSchema.LettaMessage => ({
  id: ids.messageId,
  date: ids.date,
  name: null,
  message_type: "user_message",
  otid: Wire.otid(ids.messageId, 0),
  sender_id: null,
  step_id: null,
  is_err: null,
  seq_id: null,
  run_id: ids.runId,
  content: text
})

/** A step's messages as stored in history (complete, step mode). @category constructors */
export const stepMessages = (response: Response, step: Step): ReadonlyArray<LettaSchema.LettaMessage> => [
  reasoning(response, step.reasoning),
  ...(step.tool === undefined
    ? []
    : [toolCall(response, { name: step.tool.name, arguments: step.tool.arguments, tool_call_id: step.tool.callId }, true)]),
  ...(step.answer === undefined ? [] : [assistant(response, step.answer)])
]

/**
 * A step's messages as streamed: complete in step mode; in token mode as deltas of `size` characters sharing the
 * response's `id`, told apart by `otid`.
 *
 * @category constructors
 */
export const streamedMessages = (
  response: Response,
  step: Step,
  mode: { readonly tokens: boolean; readonly size: number }
): ReadonlyArray<LettaSchema.LettaMessage> => {
  if (!mode.tokens) return stepMessages(response, step)
  const tool = step.tool
  return [
    ...tokens(step.reasoning, mode.size).map((delta) => reasoning(response, delta)),
    ...(tool === undefined ? [] : [
      toolCall(response, { tool_call_id: tool.callId }, false),
      toolCall(response, { name: tool.name, tool_call_id: tool.callId }, false),
      ...tokens(tool.arguments, mode.size).map((delta) =>
        toolCall(response, { arguments: delta, tool_call_id: tool.callId }, false)
      )
    ]),
    ...(step.answer === undefined ? [] : tokens(step.answer, mode.size).map((delta) => assistant(response, delta)))
  ]
}

/** Token counts of a turn, for `usage_statistics`. @category constructors */
export const usage = (
  steps: ReadonlyArray<Step>,
  historyLength: number,
  size: number
): LettaSchema.UsageStatistics => {
  const completion = steps.reduce(
    (sum, step) =>
      sum + tokens(step.reasoning, size).length + tokens(step.answer ?? "", size).length +
      tokens(step.tool?.arguments ?? "", size).length,
    0
  )
  const prompt = 1000 + 40 * historyLength
  return {
    message_type: "usage_statistics",
    completion_tokens: completion,
    prompt_tokens: prompt,
    total_tokens: prompt + completion,
    step_count: steps.length,
    run_ids: null,
    cached_input_tokens: null,
    cache_write_tokens: null,
    reasoning_tokens: null,
    context_tokens: prompt + completion
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// faults
// ---------------------------------------------------------------------------------------------------------------------

/** About `bytes` of UTF-8 text in lines that need escaping in JSON and HTML (quotes, `<`, `&`, accents, emoji). */
export const hugeText = (label: string, bytes: number): string => {
  const lines: Array<string> = []
  let size = 0
  for (let n = 1; size < bytes; n++) {
    const line = `${label} line ${String(n).padStart(5, "0")}: "quoted" <tag> & café ☕ 🚀 \\ tab\t.\n`
    lines.push(line)
    size += Buffer.byteLength(line)
  }
  return lines.join("")
}

/** A step of the `huge-output` fault: its tool returns 190 KB, its answer is 100 KB. @category constructors */
export const huge = (step: Step): Step => ({
  ...step,
  ...(step.tool === undefined ? {} : { tool: { ...step.tool, result: hugeText("Result", 190_000) } }),
  ...(step.answer === undefined ? {} : { answer: hugeText("Answer", 100_000) })
})

/**
 * The `odd-frames` fault's frames, as real servers have sent them: a keepalive without `id` or `date`, a
 * `user_message` echo whose content is not text, and a reasoning message with unknown keys and odd values in fields
 * no client reads. A client must pass over all of them.
 *
 * @category constructors
 */
export const oddFrames = (response: Response): ReadonlyArray<string> => [
  Wire.dataFrame(Wire.json({ message_type: "ping" })),
  Wire.dataFrame(Wire.json({ message_type: "user_message", content: 42, run_id: response.runId })),
  Wire.dataFrame(Wire.json({
    id: response.messageId,
    date: 1764489600,
    message_type: "reasoning_message",
    otid: Wire.otid(response.messageId, 0),
    is_err: "no",
    seq_id: "x",
    run_id: response.runId,
    reasoning: "Odd frames first. ",
    signature: 7,
    brand_new_field: { nested: true }
  }))
]

