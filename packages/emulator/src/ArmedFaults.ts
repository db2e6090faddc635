/**
 * Faults armed for the next requests, whatever they are (`POST /_emulator/faults {"fault":"status:503","count":2}`):
 * how tests make a failure transient, e.g. to see a client retry.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Ref } from "effect"
import type * as Fault from "./Fault.js"

/** @category models */
export interface Service {
  /** The next `count` requests get `fault`, after any armed before. */
  readonly arm: (fault: Fault.Fault, count: number) => Effect.Effect<void>
  /** The fault for this request, if one is armed (and disarms it). */
  readonly take: Effect.Effect<Option.Option<Fault.Fault>>
}

/** @category services */
export class ArmedFaults extends Context.Tag("@letta-pipeline/emulator/ArmedFaults")<ArmedFaults, Service>() {}

/** @category layers */
export const layer: Layer.Layer<ArmedFaults> = Layer.effect(
  ArmedFaults,
  Effect.map(Ref.make<ReadonlyArray<Fault.Fault>>([]), (queue) =>
    ArmedFaults.of({
      arm: (fault, count) => Ref.update(queue, (armed) => [...armed, ...Array.from({ length: count }, () => fault)]),
      take: Ref.modify(queue, (armed) => [Option.fromNullable(armed[0]), armed.slice(1)])
    }))
)
