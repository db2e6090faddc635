/**
 * One fiber for many timers: it wakes every `tick` while any entry is registered and visits each (timeouts of every
 * stream of a client, heartbeats of every open response), instead of a fiber, a timer and an interruption per stream.
 * It is forked by the registration that finds it stopped, with that fiber's clock (the `TestClock` in tests), and is
 * stopped as the last entry is removed, so that no timer of its own outlives the work. An entry is visited up to one
 * `tick` after its moment.
 *
 * @since 0.1.0
 */
import { Duration, Effect, type Fiber, FiberId } from "effect"

/** @category models */
export interface Ticker<A> {
  /** Registers `entry`; it is visited at every tick until removed. */
  readonly add: (entry: A) => Effect.Effect<void>
  readonly remove: (entry: A) => void
}

/**
 * A ticker. `visit` gets each entry and the clock's time in milliseconds; it may remove the entry, and return an
 * effect to run before the next tick.
 *
 * @category constructors
 */
export const make = <A>(
  tick: Duration.DurationInput,
  visit: (entry: A, now: number, remove: (entry: A) => void) => Effect.Effect<void> | undefined
): Ticker<A> => {
  const every = Duration.decode(tick)
  const entries = new Set<A>()
  let fiber: Fiber.RuntimeFiber<void> | undefined
  let starting = false
  // only a sleeping ticker is stopped from outside: while it visits, an effect a visit returned may still be to run
  let sleeping = false

  const remove = (entry: A) => {
    entries.delete(entry)
    // a sleeping ticker would hold a timer, and keep a process that is done alive, for up to a tick
    if (entries.size === 0 && sleeping && fiber !== undefined) {
      const stopped = fiber
      fiber = undefined
      stopped.unsafeInterruptAsFork(FiberId.none)
    }
  }

  const drop = (entry: A) => {
    entries.delete(entry)
  }

  const loop: Effect.Effect<void> = Effect.suspend(() => {
    if (entries.size === 0) {
      fiber = undefined
      return Effect.void
    }
    sleeping = true
    return Effect.zipRight(
      Effect.sleep(every),
      Effect.clockWith((clock) => {
        sleeping = false
        const now = clock.unsafeCurrentTimeMillis()
        const effects: Array<Effect.Effect<void>> = []
        for (const entry of entries) {
          const effect = visit(entry, now, drop)
          if (effect !== undefined) effects.push(effect)
        }
        return effects.length === 0 ? loop : Effect.zipRight(Effect.all(effects, { discard: true }), loop)
      })
    )
  })

  const add = (entry: A): Effect.Effect<void> =>
    Effect.suspend(() => {
      entries.add(entry)
      if (fiber !== undefined || starting) return Effect.void
      starting = true
      return Effect.map(Effect.forkDaemon(loop), (forked) => {
        starting = false
        if (entries.size > 0) fiber = forked
        else forked.unsafeInterruptAsFork(FiberId.none)
      })
    })

  return { add, remove }
}
