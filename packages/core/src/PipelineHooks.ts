/**
 * The pipeline's `inlet` and `outlet`: Effect functions over the request body before it is handled and the response
 * body after, as Open WebUI's Pipelines filters call them. Identity unless a Layer supplies others.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, type Option, Schema } from "effect"
import type { LettaError } from "./LettaError.js"

/** Who sent the request, as Open WebUI describes its user. @category schemas */
export const FilterUser = Schema.Struct({
  id: Schema.optional(Schema.String),
  email: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
  role: Schema.optional(Schema.String)
})
/** @category models */
export type FilterUser = typeof FilterUser.Type

/** A chat request or response body. @category models */
export type FilterBody = Readonly<Record<string, unknown>>

/** A hook; fail with a `LettaError` of reason `HookRejected` to refuse the request. @category models */
export type Hook = (body: FilterBody, user: Option.Option<FilterUser>) => Effect.Effect<FilterBody, LettaError>

/** @category models */
export interface Service {
  readonly inlet: Hook
  readonly outlet: Hook
}

/** @category services */
export class PipelineHooks extends Context.Tag("@letta-pipeline/core/PipelineHooks")<PipelineHooks, Service>() {}

const identity: Hook = (body) => Effect.succeed(body)

/**
 * The given hooks; a missing one is the identity.
 *
 * @category layers
 */
export const layer = (hooks: Partial<Service>): Layer.Layer<PipelineHooks> =>
  Layer.succeed(PipelineHooks, PipelineHooks.of({ inlet: hooks.inlet ?? identity, outlet: hooks.outlet ?? identity }))

/** Both hooks are the identity. @category layers */
export const layerIdentity: Layer.Layer<PipelineHooks> = layer({})
