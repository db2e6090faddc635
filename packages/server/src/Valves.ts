/**
 * Open WebUI "valves": the settings an admin may change at run time from the Pipelines admin page. Validated by their
 * Schema, whose JSON Schema is the `valves/spec`; applied to the next request, no restart.
 *
 * @since 0.1.0
 */
import { LettaConfig } from "@letta-pipeline/core"
import { Context, Effect, JSONSchema, Layer, type ParseResult, Ref, Schema } from "effect"
import * as ServerConfig from "./ServerConfig.js"

/** @category schemas */
export const Valves = Schema.Struct({
  status_events: Schema.Literal("on", "off", "auto").annotations({
    title: "Status events",
    description: "Send Open WebUI status updates (tool activity) as event chunks: on, off, or auto (Open WebUI only)"
  }),
  stream_tokens: Schema.Boolean.annotations({
    title: "Stream tokens",
    description: "Ask Letta for token-by-token deltas instead of one event per step"
  }),
  openwebui_tool_calls: Schema.Literal("items", "details").annotations({
    title: "Tool calls in Open WebUI",
    description: "items: Open WebUI's own tool-call items (0.10 and later); details: <details> blocks in the text (up to 0.9)"
  }),
  agent_tags: Schema.Array(Schema.String).annotations({
    title: "Agent tags",
    description: "Offer only agents carrying one of these tags as models (empty: all agents)"
  }),
  user_mode: Schema.Literal("shared", "per-user").annotations({
    title: "User mode",
    description: "shared: every user talks to the agent itself; per-user: the agent is a template, and each user gets their own copy with its own memory"
  }),
  per_user_models: Schema.Array(Schema.String).annotations({
    title: "Per-user models",
    description: "Models (agent ids or names) in per-user mode whatever the user mode says"
  })
}).annotations({ title: "Valves" })
/** @category models */
export type Valves = typeof Valves.Type

/** The valves' JSON Schema, for `/{id}/valves/spec`. @category constructors */
export const spec = JSONSchema.make(Valves)

/** @category models */
export interface Service {
  readonly get: Effect.Effect<Valves>
  /** Validates and applies a whole valves object. */
  readonly update: (input: unknown) => Effect.Effect<Valves, ParseResult.ParseError>
}

/** @category services */
export class ValvesStore extends Context.Tag("@letta-pipeline/server/Valves")<ValvesStore, Service>() {}

const decode = Schema.decodeUnknown(Valves, { onExcessProperty: "error", errors: "all" })

/** Starts from the server and Letta settings. @category layers */
export const layer: Layer.Layer<ValvesStore, never, ServerConfig.ServerConfig | LettaConfig.LettaConfig> = Layer.effect(
  ValvesStore,
  Effect.gen(function*() {
    const server = yield* ServerConfig.ServerConfig
    const letta = yield* LettaConfig.LettaConfig
    const current = yield* Ref.make<Valves>({
      status_events: server.statusEvents,
      stream_tokens: letta.streamTokens,
      openwebui_tool_calls: server.openWebUIToolCalls,
      agent_tags: server.agentTags,
      user_mode: server.userMode,
      per_user_models: server.perUserModels
    })
    return ValvesStore.of({
      get: Ref.get(current),
      update: (input) => Effect.tap(decode(input), (valves) => Ref.set(current, valves))
    })
  })
)
