/**
 * Letta wire messages for tests, in the exact key order and with the nulls Letta serialises
 * (`shared/reference/letta-rest-api.md` §7, §15).
 */
export const agentId = "agent-6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"
export const runId = "run-76568f61-da60-42a9-855c-3aa80d16ca13"
export const conversationId = "conv-1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"

const base = (id: string, type: string, otid: string | null) => ({
  id,
  date: "2026-08-01T10:00:02+00:00",
  name: null,
  message_type: type,
  otid,
  sender_id: null,
  step_id: "step-3a228a21-6565-4a5b-8ccc-7b64984200f4",
  is_err: null,
  seq_id: null,
  run_id: runId
})

export const ping = {
  id: "ping-5f0c1e2d-3c4b-4a59-8e7f-6d5c4b3a2910",
  date: "2026-08-01T10:00:00+00:00",
  name: null,
  message_type: "ping",
  otid: null,
  sender_id: null,
  step_id: null,
  is_err: null,
  seq_id: null,
  run_id: runId
}

/** One LLM response: its reasoning, text and tool call share this `id`; `otid` tells them apart. */
export const responseId = "message-7e0f738b-d138-40d6-bac7-4347751d573a"
export const reasoningOtid = "7e0f738b-d138-40d6-bac7-4347751d5700"
export const assistantOtid = "7e0f738b-d138-40d6-bac7-4347751d5701"

export const reasoning = (text: string, otid = reasoningOtid, id = responseId) => ({
  ...base(id, "reasoning_message", otid),
  source: "reasoner_model",
  reasoning: text,
  signature: null
})

export const assistant = (content: unknown, otid = assistantOtid, id = responseId) => ({
  ...base(id, "assistant_message", otid),
  content
})

/** A token-mode tool-call delta: `tool_call` and `tool_calls` are the same object with only the present keys. */
export const toolCallDelta = (delta: Record<string, string>, otid = "02bb6cf9-fd51-4c09-85c2-59848efd8c01") => ({
  ...base("message-02bb6cf9-fd51-4c09-85c2-59848efd8c13", "tool_call_message", otid),
  tool_call: delta,
  tool_calls: delta
})

/** A step-mode tool call: `tool_calls` complete, `tool_call` its first element. */
export const toolCallStep = (calls: ReadonlyArray<{ name: string; arguments: string; tool_call_id: string }>) => ({
  ...base("message-aa11aa11-fd51-4c09-85c2-59848efd8c13", "tool_call_message", "aa11aa11-fd51-4c09-85c2-59848efd8c00"),
  tool_call: calls[0],
  tool_calls: calls
})

export const toolReturn = (toolCallId: string, output: string, status: "success" | "error" = "success") => ({
  ...base("message-bb22bb22-fd51-4c09-85c2-59848efd8c13", "tool_return_message", "bb22bb22-fd51-4c09-85c2-59848efd8c00"),
  tool_return: output,
  status,
  tool_call_id: toolCallId,
  stdout: null,
  stderr: null,
  tool_returns: [{ type: "tool", tool_return: output, status, tool_call_id: toolCallId, stdout: null, stderr: null }]
})

export const stopReason = (reason = "end_turn") => ({ message_type: "stop_reason", stop_reason: reason })

export const usage = {
  message_type: "usage_statistics",
  completion_tokens: 42,
  prompt_tokens: 2310,
  total_tokens: 2352,
  step_count: 1,
  run_ids: null,
  cached_input_tokens: null,
  cache_write_tokens: null,
  reasoning_tokens: null,
  context_tokens: 2352
}

export const errorMessage = {
  message_type: "error_message",
  run_id: runId,
  error_type: "llm_rate_limit",
  message: "Rate limit exceeded for LLM model provider. Please wait before making another request.",
  detail: "429 from provider",
  seq_id: null
}

export const agent = (id: string, name: string) => ({
  id,
  name,
  system: "You are a helpful agent.",
  agent_type: "letta_v1_agent",
  llm_config: { model: "gpt-4o-mini" },
  memory: { blocks: [] },
  blocks: [],
  tools: [],
  sources: [],
  tags: ["demo"],
  description: null,
  created_at: "2026-08-01T10:00:00+00:00"
})
