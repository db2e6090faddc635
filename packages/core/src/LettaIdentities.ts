/**
 * Letta's identities (`/v1/identities`), a capability only the REST API has: the person or organisation an agent
 * belongs to, keyed by an `identifier_key` of the caller's choosing. The bridge attaches each user's own agent to the
 * identity of that user (per-user models). The App Server has no identities, so its layer does not provide this
 * service; a caller asks for it with `Effect.serviceOption`.
 *
 * `LettaClient.layer` (and `layerSettings` / `layerConfig`) provide it next to `LettaClient`.
 *
 * @since 0.1.0
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Context, Effect, Layer, Schema } from "effect"
import * as RestTransport from "./internal/restTransport.js"
import * as LettaConfig from "./LettaConfig.js"
import type { PipelineError } from "./LettaError.js"
import * as LettaSchema from "./LettaSchema.js"

/** @category models */
export interface Service {
  /**
   * `PUT /v1/identities/` (`upsert_identity`): the identity with this `identifier_key`, created or updated; its
   * `agent_ids` are replaced by the body's when given.
   */
  readonly upsert: (body: LettaSchema.IdentityUpsert) => Effect.Effect<LettaSchema.Identity, PipelineError>
}

/** @category services */
export class LettaIdentities extends Context.Tag("@letta-pipeline/core/LettaIdentities")<LettaIdentities, Service>() {}

/**
 * Builds the service over an `HttpClient`, configured by `LettaConfig` (the same transport as `LettaClient.make`).
 *
 * @category constructors
 */
export const make: Effect.Effect<Service, never, HttpClient.HttpClient | LettaConfig.LettaConfig> = Effect.gen(
  function*() {
    const transport = RestTransport.make(
      RestTransport.optionsOf(yield* HttpClient.HttpClient, yield* LettaConfig.LettaConfig)
    )
    return LettaIdentities.of({
      upsert: Effect.fn("LettaIdentities.upsert")(function*(body: LettaSchema.IdentityUpsert) {
        const request = HttpClientRequest.put("/v1/identities/").pipe(
          HttpClientRequest.bodyUnsafeJson(Schema.encodeSync(LettaSchema.IdentityUpsert)(body))
        )
        return yield* transport.json(request, { schema: LettaSchema.Identity, what: "identity" })
      })
    })
  }
)

/**
 * The identities of the REST API over whatever `HttpClient` and `LettaConfig` are provided.
 *
 * @category layers
 */
export const layer: Layer.Layer<LettaIdentities, never, HttpClient.HttpClient | LettaConfig.LettaConfig> = Layer
  .effect(LettaIdentities, make)
