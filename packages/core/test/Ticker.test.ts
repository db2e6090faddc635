/**
 * `Ticker`: one fiber visits every registered entry each tick, on the caller's clock, and stops at the first tick that
 * finds none left; on the live clock its timer does not keep a process alive.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, TestClock } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
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

  it.effect("removing the last entry lets the ticker run out its tick; an entry added meanwhile needs no new fiber", () =>
    Effect.gen(function*() {
      const visits: Array<string> = []
      const ticker = Ticker.make<number>(Duration.seconds(1), (entry, now) => {
        visits.push(`${entry}@${now}`)
        return undefined
      })
      const before = (yield* Fiber.roots).length
      yield* ticker.add(1)
      yield* TestClock.adjust(Duration.millis(1500))
      ticker.remove(1)
      // lingering: the same fiber, asleep until its tick
      assert.strictEqual((yield* Fiber.roots).length, before + 1)
      yield* ticker.add(2)
      assert.strictEqual((yield* Fiber.roots).length, before + 1)
      yield* TestClock.adjust(Duration.millis(500))
      assert.deepStrictEqual(visits, ["1@1000", "2@2000"])
      ticker.remove(2)
      // the tick that finds no entry ends the fiber
      yield* TestClock.adjust(Duration.seconds(1))
      assert.strictEqual((yield* Fiber.roots).length, before)
      assert.deepStrictEqual(visits, ["1@1000", "2@2000"])
    }))

  it("on the live clock, a lingering ticker does not keep a process that is done alive", async () => {
    // a child that registers an entry, removes it and is done: with a 60-s tick, it must exit long before the tick
    const index = fileURLToPath(new URL("../dist/index.js", import.meta.url))
    const script = `
      import { Duration, Effect } from "effect"
      import { Ticker } from ${JSON.stringify(index)}
      const ticker = Ticker.make(Duration.seconds(60), () => undefined)
      await Effect.runPromise(Effect.andThen(ticker.add(1), Effect.sleep(Duration.millis(50))))
      ticker.remove(1)
      console.log("removed")
    `
    const started = Date.now()
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
        cwd: fileURLToPath(new URL("..", import.meta.url)),
        stdio: ["ignore", "pipe", "inherit"]
      })
      let output = ""
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
      // the bound: far below the tick, far above a busy machine's start-up
      const guard = setTimeout(() => {
        child.kill()
        reject(new Error(`the process was still alive after 30 s: ${output}`))
      }, 30_000)
      child.on("exit", (code) => {
        clearTimeout(guard)
        resolve({ code, output })
      })
    })
    assert.strictEqual(code, 0)
    assert.include(output, "removed")
    assert.isBelow(Date.now() - started, 30_000)
  }, 40_000)

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
