/**
 * Identities: `PUT /v1/identities/` (`upsert_identity`), which per-user models call before making a user's agent. The
 * emulator keeps an identity's key, name, type and agent ids; it links no agent to it.
 *
 * @since 0.1.0
 */
import { HttpLayerRouter } from "@effect/platform"
import { LettaSchema } from "@letta-pipeline/core"
import { Effect, Ref } from "effect"
import * as Http from "../internal/http.js"
import * as Wire from "../Wire.js"

const make = Effect.gen(function*() {
  const identities = yield* Ref.make(new Map<string, LettaSchema.Identity>())

  const upsert = Effect.gen(function*() {
    const body = yield* Http.body(LettaSchema.IdentityUpsert)
    const fresh = yield* Wire.id("identity")
    const identity = yield* Ref.modify(identities, (all) => {
      const previous = all.get(body.identifier_key)
      const next: LettaSchema.Identity = {
        id: previous?.id ?? fresh,
        identifier_key: body.identifier_key,
        name: body.name,
        identity_type: body.identity_type,
        agent_ids: body.agent_ids ?? previous?.agent_ids ?? []
      }
      return [next, new Map(all).set(body.identifier_key, next)]
    })
    return Wire.jsonResponse(identity)
  })

  return [HttpLayerRouter.route("PUT", "/identities/", upsert)]
})

/** @category layers */
export const layer = HttpLayerRouter.addAll(make)
