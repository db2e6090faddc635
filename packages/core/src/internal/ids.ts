/**
 * Ids checked against Letta's patterns before any URL or command is built from them (both backends, the pipeline and
 * the server's model rule use these).
 */
import { Effect, Either, Schema } from "effect"
import { excerptOf, LettaError } from "../LettaError.js"
import * as LettaSchema from "../LettaSchema.js"

const formats = {
  agent: "expected agent-<uuid4> or agent-local-<uuid>",
  conversation: "expected conv-<uuid4>, local-conv-<n> or default",
  run: "expected run-<uuid4> or local-run-<n>"
} as const

const check = <A, I>(schema: Schema.Schema<A, I>, kind: keyof typeof formats) => {
  const decode = Schema.decodeUnknownEither(schema)
  return (value: string): Effect.Effect<A, LettaError> =>
    Either.match(decode(value), {
      onRight: Effect.succeed,
      onLeft: () =>
        Effect.fail(
          new LettaError({
            reason: "InvalidId",
            detail: `${JSON.stringify(excerptOf(value, 80))} is not a valid ${kind} id (${formats[kind]})`
          })
        )
    })
}

export const checkAgentId = check(LettaSchema.AgentId, "agent")
export const checkConversationId = check(LettaSchema.ConversationId, "conversation")
export const checkRunId = check(LettaSchema.RunId, "run")
