/**
 * One fiber for many timers: it wakes every `tick` while any entry is registered and visits each (timeouts of every
 * stream of a client, heartbeats of every open response), instead of a fiber, a timer and an interruption per stream.
 * It is forked by the registration that finds it stopped, with that fiber's clock (the `TestClock` in tests), and
 * stops at the first tick that finds no entry. An entry is visited up to one `tick` after its moment.
 *
 * Stopping at once when the last entry goes, and forking again for the next, cost a fork, a timer and an interruption
 * (about 30 µs) more than once per short turn of a busy server, where the set is empty for moments between turns. On
 * the live clock its timer is `unref`'d, so that a process that is done (a CLI command) exits without waiting for the
 * tick.
 *
 * @since 0.1.0
 */
import { Clock, Context, DefaultServices, Duration, Effect, type Fiber } from "effect"

const liveClock = Context.get(DefaultServices.liveServices, Clock.Clock)

/**
 * `clock.sleep`, but on the live clock with a timer that does not keep the process alive: a Node timer of its own,
 * since Effect's `Clock` has no sleep that lets a finished process exit.
 */
const sleepOn = (clock: Clock.Clock, duration: Duration.Duration): Effect.Effect<void> => {
  if (clock !== liveClock) return clock.sleep(duration)
  const millis = Math.min(Duration.toMillis(duration), 2 ** 31 - 1)
  return Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    // in Node a timer is an object with unref; elsewhere a number
    if (typeof timer === "object" && timer !== null && "unref" in timer) timer.unref()
    return Effect.sync(() => clearTimeout(timer))
  })
}

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

  const remove = (entry: A) => {
    entries.delete(entry)
  }

  const loop: Effect.Effect<void> = Effect.clockWith((clock) =>
    Effect.zipRight(
      sleepOn(clock, every),
      Effect.suspend(() => {
        if (entries.size === 0) {
          fiber = undefined
          return Effect.void
        }
        const now = clock.unsafeCurrentTimeMillis()
        const effects: Array<Effect.Effect<void>> = []
        for (const entry of entries) {
          const effect = visit(entry, now, remove)
          if (effect !== undefined) effects.push(effect)
        }
        return effects.length === 0 ? loop : Effect.zipRight(Effect.all(effects, { discard: true }), loop)
      })
    ))

  const add = (entry: A): Effect.Effect<void> =>
    Effect.suspend(() => {
      entries.add(entry)
      if (fiber !== undefined || starting) return Effect.void
      starting = true
      // kept even if its entry went meanwhile: it stops at its first tick, as whenever the set runs empty
      return Effect.map(Effect.forkDaemon(loop), (forked) => {
        starting = false
        fiber = forked
      })
    })

  return { add, remove }
}
