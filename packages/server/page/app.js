// @ts-check
/**
 * The chat page: lists the agents (`GET /v1/models`), sends each message to `POST /v1/pipe` and renders core's events
 * as they stream in. Plain DOM and text nodes only (nothing the agent writes is parsed as HTML); the one library is
 * eventsource-parser, served by the server.
 */

/** @typedef {import("@letta-pipeline/core").StreamEvent.StreamEvent} StreamEvent */
/** @typedef {{ readonly id: string, readonly name: string, readonly description?: string }} Model */

// a variable, so that TypeScript takes the types from the package while the browser loads the served file
const parserUrl = "/assets/eventsource-parser/stream.js"
/** @type {typeof import("eventsource-parser/stream")} */
const { EventSourceParserStream } = await import(parserUrl)

const keyStorage = "letta-pipeline.key"
const agentStorage = "letta-pipeline.agent"

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
const byId = (id, type) => {
  const found = document.getElementById(id)
  if (!(found instanceof type)) throw new Error(`the page has no #${id}`)
  return found
}

const agentSelect = byId("agent", HTMLSelectElement)
const newChatButton = byId("new-chat", HTMLButtonElement)
const keyForm = byId("key-form", HTMLFormElement)
const keyInput = byId("key", HTMLInputElement)
const log = byId("log", HTMLElement)
const hint = byId("hint", HTMLParagraphElement)
const composer = byId("composer", HTMLFormElement)
const input = byId("input", HTMLTextAreaElement)
const sendButton = byId("send", HTMLButtonElement)
const stopButton = byId("stop", HTMLButtonElement)
const pageTitle = document.title

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} className
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
const element = (tag, className, text) => {
  const created = document.createElement(tag)
  created.className = className
  if (text !== undefined) created.textContent = text
  return created
}

/** Random without `crypto.randomUUID`, which browsers only offer on https and localhost. */
const newChatId = () =>
  `page-${Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("")}`

let apiKey = sessionStorage.getItem(keyStorage) ?? ""
let chatId = newChatId()
/** @type {AbortController | null} */
let running = null

/**
 * @param {string} path
 * @param {RequestInit} [init]
 */
const api = (path, init = {}) =>
  fetch(path, { ...init, headers: { ...init.headers, ...(apiKey === "" ? {} : { authorization: `Bearer ${apiKey}` }) } })

/**
 * @param {unknown} value
 * @param {string} key
 * @returns {unknown}
 */
const field = (value, key) => typeof value === "object" && value !== null ? Reflect.get(value, key) : undefined

/** What a failed answer says: OpenAI's `error.message`, FastAPI's `detail`, or the status. @param {Response} response */
const problemOf = async (response) => {
  const text = await response.text().catch(() => "")
  try {
    /** @type {unknown} */
    const body = JSON.parse(text)
    const message = field(field(body, "error"), "message") ?? field(body, "detail")
    if (typeof message === "string") return message
  } catch {
    // not JSON: the status and the text below
  }
  return `HTTP ${response.status}${text === "" ? "" : `: ${text.slice(0, 300)}`}`
}

/** Keeps the log pinned to the bottom while it grows, unless the reader scrolled up. @param {() => void} change */
const keepingScroll = (change) => {
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 48
  change()
  if (atBottom) log.scrollTop = log.scrollHeight
}

/** @param {string} message */
const showPageError = (message) => keepingScroll(() => log.append(element("div", "error", message)))

const integer = new Intl.NumberFormat("en")

/** One answer of the agent, built from the events of its turn. */
class TurnView {
  root = element("article", "turn")
  status = element("p", "status")
  /** @type {Map<string, Text>} */
  texts = new Map()
  /** @type {Map<string, { details: HTMLDetailsElement, result: HTMLElement }>} */
  tools = new Map()
  finished = false
  started = false

  constructor() {
    this.root.setAttribute("aria-busy", "true")
    this.status.textContent = "Waiting for the agent…"
    this.root.append(this.status)
  }

  /** @param {HTMLElement} block */
  add(block) {
    keepingScroll(() => this.root.insertBefore(block, this.status))
  }

  /** Streamed text in a block of its own per message id. @param {string} key @param {() => HTMLElement} create @param {string} content */
  appendText(key, create, content) {
    const existing = this.texts.get(key)
    if (existing !== undefined) return keepingScroll(() => existing.appendData(content))
    const text = document.createTextNode(content)
    const block = create()
    ;(block.querySelector(".body") ?? block).append(text)
    this.texts.set(key, text)
    this.add(block)
  }

  /** Reasoning stays open while it streams and folds once the agent moves on. */
  foldReasoning() {
    for (const open of this.root.querySelectorAll("details.reasoning[open]")) open.removeAttribute("open")
  }

  /** @param {StreamEvent} event */
  apply(event) {
    if (!this.started) {
      this.started = true
      this.status.textContent = ""
    }
    switch (event.type) {
      case "reasoning":
        return this.appendText(`reasoning:${event.data.id}`, () => {
          const details = element("details", "reasoning")
          details.open = true
          details.append(element("summary", "", "Reasoning"), element("div", "body"))
          return details
        }, event.data.content)
      case "message":
        this.foldReasoning()
        return this.appendText(`message:${event.data.id}`, () => element("div", "text"), event.data.content)
      case "tool_call": {
        this.foldReasoning()
        const details = element("details", "tool")
        const result = element("pre", "result", event.data.requires_approval ? "waiting for approval in Letta" : "running…")
        details.append(
          element("summary", "", `Tool call: ${event.data.name}`),
          element("span", "label", "Arguments"),
          element("pre", "arguments", prettyJson(event.data.arguments)),
          element("span", "label", "Result"),
          result
        )
        this.tools.set(event.data.id, { details, result })
        return this.add(details)
      }
      case "tool_result": {
        const tool = this.tools.get(event.data.id)
        if (tool === undefined) return this.add(element("pre", "result", event.data.output))
        tool.result.textContent = event.data.output
        return tool.details.classList.add(event.data.status)
      }
      case "status":
        this.status.textContent = event.data.done ? "" : event.data.description
        return
      case "usage": {
        const { prompt_tokens, completion_tokens, total_tokens, step_count } = event.data
        const steps = step_count === undefined ? "" : ` · ${step_count} ${step_count === 1 ? "step" : "steps"}`
        const usage = `${integer.format(prompt_tokens)} prompt + ${integer.format(completion_tokens)} completion = ${integer.format(total_tokens)} tokens${steps}`
        return this.add(element("footer", "usage", usage))
      }
      case "title":
        document.title = `${event.data.title} · ${pageTitle}`
        return
      case "done":
        this.finished = true
        if (event.data.stop_reason === "cancelled") return this.notice("Stopped.")
        if (event.data.stop_reason !== null && event.data.stop_reason !== "end_turn") {
          return this.notice(`The turn ended: ${event.data.stop_reason.replaceAll("_", " ")}.`)
        }
        return
      case "error":
        this.finished = true
        return this.fail(event.data.message)
    }
  }

  /** @param {string} message */
  notice(message) {
    this.add(element("p", "notice", message))
  }

  /** @param {string} message */
  fail(message) {
    const error = element("div", "error", message)
    error.setAttribute("role", "alert")
    this.add(error)
  }

  end() {
    this.foldReasoning()
    this.status.textContent = ""
    this.root.setAttribute("aria-busy", "false")
  }
}

/** Arguments as the model wrote them, indented when they are JSON. @param {string} text */
const prettyJson = (text) => {
  try {
    return JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    return text
  }
}

const updateComposer = () => {
  const busy = running !== null
  sendButton.hidden = busy
  stopButton.hidden = !busy
  sendButton.disabled = agentSelect.disabled || agentSelect.value === ""
}

/** @param {string} text */
const send = async (text) => {
  hint.remove()
  keepingScroll(() => log.append(element("div", "user", text)))
  const turn = new TurnView()
  keepingScroll(() => log.append(turn.root))
  const controller = new AbortController()
  running = controller
  updateComposer()
  try {
    const response = await api("/v1/pipe", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: agentSelect.value, chat_id: chatId, messages: [{ role: "user", content: text }] }),
      signal: controller.signal
    })
    if (response.status === 401) keyForm.hidden = false
    if (!response.ok || response.body === null) return turn.fail(await problemOf(response))
    const reader = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader()
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      turn.apply(/** @type {StreamEvent} */ (JSON.parse(next.value.data)))
    }
    if (!turn.finished) turn.fail("The server closed the stream before the turn was done.")
  } catch (error) {
    if (controller.signal.aborted) turn.notice("Stopped.")
    else turn.fail(`The connection to the server failed: ${error instanceof Error ? error.message : String(error)}`)
  } finally {
    turn.end()
    running = null
    updateComposer()
    input.focus()
  }
}

/** Aborting the request closes it; the server then stops the agent's turn upstream. */
const stop = () => running?.abort()

const newChat = () => {
  stop()
  chatId = newChatId()
  document.title = pageTitle
  log.replaceChildren(hint)
  input.focus()
}

const loadAgents = async () => {
  agentSelect.disabled = true
  updateComposer()
  const response = await api("/v1/models").catch(() => null)
  if (response === null) return showPageError("Cannot reach the server (reload the page to try again).")
  if (response.status === 401) {
    const reason = await problemOf(response)
    keyForm.hidden = false
    keyInput.setCustomValidity(apiKey === "" ? "" : reason)
    keyInput.reportValidity()
    return keyInput.focus()
  }
  if (!response.ok) {
    agentSelect.replaceChildren(new Option("Unavailable"))
    return showPageError(`Cannot list the agents: ${await problemOf(response)} (reload the page to try again)`)
  }
  keyForm.hidden = true
  const models = /** @type {{ data: ReadonlyArray<Model> }} */ (await response.json()).data
  if (models.length === 0) {
    agentSelect.replaceChildren(new Option("No agents"))
    return showPageError("The Letta server has no agents yet: create one in Letta (or the ADE), then reload.")
  }
  agentSelect.replaceChildren(...models.map((model) => {
    const option = new Option(model.name, model.id)
    option.title = model.description ?? model.id
    return option
  }))
  const remembered = localStorage.getItem(agentStorage)
  if (remembered !== null && models.some((model) => model.id === remembered)) agentSelect.value = remembered
  agentSelect.disabled = false
  updateComposer()
  input.focus()
}

composer.addEventListener("submit", (event) => {
  event.preventDefault()
  const text = input.value.trim()
  if (text === "" || running !== null || sendButton.disabled) return
  input.value = ""
  void send(text)
})
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault()
    composer.requestSubmit()
  }
  if (event.key === "Escape") stop()
})
stopButton.addEventListener("click", stop)
newChatButton.addEventListener("click", newChat)
agentSelect.addEventListener("change", () => {
  localStorage.setItem(agentStorage, agentSelect.value)
  newChat()
})
keyForm.addEventListener("submit", (event) => {
  event.preventDefault()
  apiKey = keyInput.value.trim()
  sessionStorage.setItem(keyStorage, apiKey)
  keyInput.setCustomValidity("")
  void loadAgents()
})
keyInput.addEventListener("input", () => keyInput.setCustomValidity(""))

void loadAgents()
