/** `Ticker`: one fiber visits every registered entry each tick, on the caller's clock, and stops when none is left. */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, TestClock } from "effect"
import { Ticker } from "../src/index.js"

describe("Ticker", () => {
  it.effect("visits every entry at each tick until it is removed; a visit's effect runs", () =>
    Effect.gen(function*() {
      const visits: Array<string> = []
      const ran: Array<string> = []
      const ticker = Ticker.make<string>(Duration.seconds(1), (entry, now, remove) => {
        visits.push(`${entry}@${now}`)
        if (entry === "b" && now >= 2000) {
          remove(entry)
          return Effect.sync(() => ran.push(`b done at ${now}`))
        }
        return undefined
      })
      yield* ticker.add("a")
      yield* ticker.add("b")
      yield* TestClock.adjust(Duration.seconds(3))
      assert.deepStrictEqual(visits, ["a@1000", "b@1000", "a@2000", "b@2000", "a@3000"])
      assert.deepStrictEqual(ran, ["b done at 2000"])
      ticker.remove("a")
      yield* TestClock.adjust(Duration.seconds(3))
      assert.strictEqual(visits.length, 5)
    }))

  it.effect("removing the last entry stops a sleeping ticker at once: no timer of its own outlives the work", () =>
    Effect.gen(function*() {
      const ticker = Ticker.make<number>(Duration.seconds(1), () => undefined)
      const before = (yield* Fiber.roots).length
      yield* ticker.add(1)
      yield* TestClock.adjust(Duration.millis(1500))
      assert.strictEqual((yield* Fiber.roots).length, before + 1)
      ticker.remove(1)
      yield* Effect.yieldNow()
      assert.strictEqual((yield* Fiber.roots).length, before)
    }))

  it.effect("an entry removed by a visit still gets the effect that visit returned", () =>
    Effect.gen(function*() {
      const fired: Array<number> = []
      const ticker = Ticker.make<number>(Duration.seconds(1), (entry, now, remove) => {
        remove(entry)
        return Effect.sync(() => fired.push(now))
      })
      yield* ticker.add(1)
      yield* TestClock.adjust(Duration.seconds(1))
      assert.deepStrictEqual(fired, [1000])
    }))

  it.effect("its fiber ends once no entry is left, and the next entry starts one again", () =>
    Effect.gen(function*() {
      const visits: Array<number> = []
      const ticker = Ticker.make<number>(Duration.millis(100), (_, now) => {
        visits.push(now)
        return undefined
      })
      const before = (yield* Fiber.roots).length
      yield* ticker.add(1)
      assert.strictEqual((yield* Fiber.roots).length, before + 1)
      ticker.remove(1)
      yield* TestClock.adjust(Duration.millis(100))
      assert.strictEqual((yield* Fiber.roots).length, before)
      assert.deepStrictEqual(visits, [])
      yield* ticker.add(2)
      yield* TestClock.adjust(Duration.millis(100))
      assert.deepStrictEqual(visits, [200])
    }))
})
