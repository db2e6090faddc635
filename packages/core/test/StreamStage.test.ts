/**
 * `StreamStage`: one stage from synchronous functions (chunks, the upstream's failure, its end), and `unwrap` /
 * `unwrapScoped` without a `flatMap` stage. The hot path of every turn is built from these, so each behaviour the
 * operators they replace had is checked here.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Option, Ref, Stream } from "effect"
import { StreamStage } from "../src/index.js"

/** Sums what it reads, emits the running sums, ends at a negative number, fails at NaN. */
const sums = () => {
  let total = 0
  return StreamStage.stage<number, number, string, string>({
    onChunk: (chunk) => {
      const out: Array<number> = []
      for (const n of chunk) {
        if (Number.isNaN(n)) return { emit: out, end: { error: "NaN read" } }
        if (n < 0) return { emit: out, end: true }
        total += n
        out.push(total)
      }
      return { emit: out }
    },
    onFailure: (error) => ({ emit: [-1], end: { error: `upstream: ${error}` } }),
    onEnd: () => ({ emit: [total * 100], end: true })
  })
}

describe("StreamStage.stage", () => {
  it.effect("maps each chunk with its state, one chunk out per chunk in, and emits what its end adds", () =>
    Effect.gen(function*() {
      const chunks = yield* Stream.runCollect(
        Stream.fromChunks(Chunk.make(1, 2), Chunk.make(3)).pipe(sums(), Stream.chunks)
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(chunks).map(Chunk.toReadonlyArray), [[1, 3], [6], [600]])
    }))

  it.effect("onPull runs before each wait for input; an error it gives back fails the stream there, after what came before", () =>
    Effect.gen(function*() {
      let pulls = 0
      const failAt = (n: number) =>
        StreamStage.stage<number, number, string, string>({
          onPull: () => (++pulls === n ? `stopped at pull ${n}` : undefined),
          onChunk: (chunk) => ({ emit: Chunk.toReadonlyArray(chunk) }),
          onFailure: (error) => ({ emit: [], end: { error } }),
          onEnd: () => ({ emit: [], end: true })
        })
      const three = Stream.fromChunks(Chunk.make(1), Chunk.make(2), Chunk.make(3))
      // three chunks and the end: four waits
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Stream.runCollect(three.pipe(failAt(0)))), [1, 2, 3])
      assert.strictEqual(pulls, 4)
      pulls = 0
      const seen: Array<number> = []
      const exit = yield* Effect.exit(Stream.runForEach(three.pipe(failAt(3)), (n) => Effect.sync(() => seen.push(n))))
      assert.deepStrictEqual(seen, [1, 2])
      assert.deepStrictEqual(exit, Exit.fail("stopped at pull 3"))
    }))

  it.effect("an early end emits what came before it, skips onEnd and releases the upstream", () =>
    Effect.gen(function*() {
      const released = yield* Ref.make(false)
      const upstream = Stream.concat(Stream.make(1, 2, -1, 5), Stream.never).pipe(
        Stream.ensuring(Ref.set(released, true))
      )
      const out = yield* Stream.runCollect(upstream.pipe(sums()))
      assert.deepStrictEqual(Chunk.toReadonlyArray(out), [1, 3])
      assert.isTrue(yield* Ref.get(released))
    }))

  it.effect("a failing chunk fails the stream after its elements before the failure", () =>
    Effect.gen(function*() {
      const out = yield* Stream.runCollect(Stream.either(Stream.make(1, Number.NaN, 2).pipe(sums())))
      assert.deepStrictEqual(Chunk.toReadonlyArray(out).map((e) => (e._tag === "Right" ? e.right : e.left)), [
        1,
        "NaN read"
      ])
    }))

  it.effect("the upstream's failure goes to onFailure, which may emit before it fails", () =>
    Effect.gen(function*() {
      const out = yield* Stream.runCollect(
        Stream.either(Stream.concat(Stream.make(4), Stream.fail("gone")).pipe(sums()))
      )
      assert.deepStrictEqual(Chunk.toReadonlyArray(out).map((e) => (e._tag === "Right" ? e.right : e.left)), [
        4,
        -1,
        "upstream: gone"
      ])
    }))

  it.effect("a defect passes through untouched", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Stream.runDrain(Stream.concat(Stream.make(1), Stream.die("boom")).pipe(sums())))
      assert.isTrue(Exit.isFailure(exit) && Option.getOrUndefined(Cause.dieOption(exit.cause)) === "boom")
    }))
})

describe("StreamStage.unwrap / unwrapScoped", () => {
  it.effect("unwrap: the effect's stream, and the effect's failure", () =>
    Effect.gen(function*() {
      const out = yield* Stream.runCollect(StreamStage.unwrap(Effect.succeed(Stream.make(1, 2, 3))))
      assert.deepStrictEqual(Chunk.toReadonlyArray(out), [1, 2, 3])
      const failed = yield* Effect.flip(Stream.runDrain(StreamStage.unwrap<number, never, never, string, never>(Effect.fail("no stream"))))
      assert.strictEqual(failed, "no stream")
    }))

  it.effect("unwrapScoped: the scope lasts while the stream runs and closes when it ends, failed or not", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const opened = (result: Stream.Stream<number, string>) =>
        StreamStage.unwrapScoped(Effect.gen(function*() {
          yield* Effect.acquireRelease(Effect.sync(() => log.push("open")), () => Effect.sync(() => log.push("closed")))
          return Stream.tap(result, (n) => Effect.sync(() => log.push(`element ${n}`)))
        }))
      yield* Stream.runDrain(opened(Stream.make(1, 2)))
      assert.deepStrictEqual(log, ["open", "element 1", "element 2", "closed"])
      log.length = 0
      yield* Effect.flip(Stream.runDrain(opened(Stream.concat(Stream.make(1), Stream.fail("x")))))
      assert.deepStrictEqual(log, ["open", "element 1", "closed"])
    }))

  it.effect("unwrapScoped: a consumer that stops early closes the scope too", () =>
    Effect.gen(function*() {
      const closed = yield* Ref.make(false)
      const stream = StreamStage.unwrapScoped(
        Effect.as(Effect.addFinalizer(() => Ref.set(closed, true)), Stream.iterate(0, (n) => n + 1))
      )
      const out = yield* Stream.runCollect(Stream.take(stream, 3))
      assert.deepStrictEqual(Chunk.toReadonlyArray(out), [0, 1, 2])
      assert.isTrue(yield* Ref.get(closed))
    }))
})

/** Reads a stream by `StreamStage.toPull` in a scope of its own: every chunk, then how it ended. */
const readByPull = <A, E>(stream: Stream.Stream<A, E>) =>
  Effect.scoped(Effect.gen(function*() {
    const pull = yield* StreamStage.toPull(stream)
    const chunks: Array<ReadonlyArray<A>> = []
    for (;;) {
      const next = yield* Effect.either(pull)
      if (next._tag === "Left") return { chunks, end: next.left }
      chunks.push(Chunk.toReadonlyArray(next.right))
    }
  }))

describe("StreamStage.toPull", () => {
  it.effect("a stream of fromPull is read by its own pull, opened by the first pull: nothing runs before it", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const stream = StreamStage.fromPull<number, string, never, never>(Effect.sync(() => {
        log.push("opened")
        let n = 0
        return Effect.sync(() => {
          log.push(`pull ${++n}`)
          return Chunk.make(n)
        })
      }))
      yield* Effect.scoped(Effect.gen(function*() {
        const pull = yield* StreamStage.toPull(stream)
        assert.deepStrictEqual(log, [], "opening alone runs nothing, as with Stream.toPull")
        assert.deepStrictEqual(Chunk.toReadonlyArray(yield* pull), [1])
        assert.deepStrictEqual(Chunk.toReadonlyArray(yield* pull), [2])
      }))
      assert.deepStrictEqual(log, ["opened", "pull 1", "pull 2"])
    }))

  it.effect("unwrap's effect runs at the first pull, not when the pull is made; its defect comes from that pull", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const sent = StreamStage.unwrap(Effect.sync(() => {
        log.push("request sent")
        return Stream.make(1)
      }))
      yield* Effect.scoped(StreamStage.toPull(sent))
      assert.deepStrictEqual(log, [])
      const exit = yield* Effect.exit(Effect.scoped(Effect.flatMap(StreamStage.toPull(StreamStage.unwrap<number, never, never, never, never>(Effect.die("boom"))), (pull) => pull)))
      assert.isTrue(Exit.isFailure(exit) && Option.getOrUndefined(Cause.dieOption(exit.cause)) === "boom")
    }))

  it.effect("a failure that comes with a defect through unwrap keeps both, read by pull", () =>
    Effect.gen(function*() {
      const stream = StreamStage.unwrap<number, never, never, string, never>(Effect.failCause(Cause.parallel(Cause.fail("x"), Cause.die("d"))))
      const exit = yield* Effect.scoped(Effect.flatMap(StreamStage.toPull(stream), Effect.exit))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        assert.deepStrictEqual(Chunk.toReadonlyArray(Cause.failures(exit.cause)), [Option.some("x")])
        assert.deepStrictEqual(Chunk.toReadonlyArray(Cause.defects(exit.cause)), ["d"])
      }
    }))

  it.effect("unwrap's resources last as long as the stream, and are released when it ends", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const stream = StreamStage.unwrap(Effect.as(
        Effect.acquireRelease(Effect.sync(() => log.push("acquire")), () => Effect.sync(() => log.push("release"))),
        Stream.make(1)
      ))
      yield* Effect.scoped(Effect.zipRight(Stream.runDrain(stream), Effect.sync(() => log.push("stream done"))))
      assert.deepStrictEqual(log, ["acquire", "release", "stream done"])
    }))

  it.effect("a chain of unwrap, suspend and stages reads the same by pull as run as a stream", () =>
    Effect.gen(function*() {
      const chain = () =>
        StreamStage.suspend(() =>
          StreamStage.unwrap(Effect.succeed(Stream.fromChunks(Chunk.make(1, 2), Chunk.empty(), Chunk.make(3)))).pipe(sums())
        )
      const byPull = yield* readByPull(chain())
      const asStream = yield* Stream.runCollect(Stream.chunks(chain()))
      assert.deepStrictEqual(byPull.chunks, Chunk.toReadonlyArray(asStream).map(Chunk.toReadonlyArray))
      assert.deepStrictEqual(byPull.chunks, [[1, 3], [6], [600]])
      assert.deepStrictEqual(byPull.end, Option.none())
    }))

  it.effect("once a stage has ended, later pulls end too and its upstream is not pulled again", () =>
    Effect.gen(function*() {
      let upstreamPulls = 0
      const upstream = StreamStage.fromPull<number, string, never, never>(Effect.succeed(Effect.sync(() => {
        upstreamPulls++
        return Chunk.make(1, -1)
      })))
      yield* Effect.scoped(Effect.gen(function*() {
        const pull = yield* StreamStage.toPull(upstream.pipe(sums()))
        assert.deepStrictEqual(Chunk.toReadonlyArray(yield* pull), [1])
        for (let i = 0; i < 3; i++) assert.deepStrictEqual(yield* Effect.flip(pull), Option.none())
      }))
      assert.strictEqual(upstreamPulls, 1)
    }))

  it.effect("the failure of unwrap's effect is the pull's first failure", () =>
    Effect.gen(function*() {
      const read = yield* readByPull(StreamStage.unwrap<number, never, never, string, never>(Effect.fail("no stream")))
      assert.deepStrictEqual(read, { chunks: [], end: Option.some("no stream") })
    }))

  it.effect("resources are released when the reader's scope closes: the stream's own first, ensuring's last", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const stream = StreamStage.unwrapScoped(Effect.as(
        Effect.addFinalizer(() => Effect.sync(() => log.push("resource"))),
        Stream.make(1, 2)
      )).pipe(StreamStage.ensuring(Effect.sync(() => log.push("ensuring"))))
      yield* Effect.scoped(Effect.gen(function*() {
        const pull = yield* StreamStage.toPull(stream)
        yield* pull
        log.push("read")
      }))
      assert.deepStrictEqual(log, ["read", "resource", "ensuring"])
      log.length = 0
      // run as a stream, the same order once the stream ends
      yield* Stream.runDrain(stream)
      assert.deepStrictEqual(log, ["resource", "ensuring"])
    }))

  it.effect("a stream built otherwise is read through Stream.toPull", () =>
    Effect.gen(function*() {
      const read = yield* readByPull(Stream.concat(Stream.make(1, 2), Stream.fail("late")))
      assert.deepStrictEqual(read.chunks.flat(), [1, 2])
      assert.deepStrictEqual(read.end, Option.some("late"))
    }))
})

describe("StreamStage.recoverBeforeFirst", () => {
  const recover = StreamStage.recoverBeforeFirst((error: string) =>
    error === "gone" ? Stream.make(100, 200) : Stream.fail(`not recovered: ${error}`)
  )

  it.effect("a failure before the first element: the recovery's stream is read instead, by pull and as a stream", () =>
    Effect.gen(function*() {
      const failing = StreamStage.unwrap<number, never, never, string, never>(Effect.fail("gone"))
      const byPull = yield* readByPull(failing.pipe(recover))
      assert.deepStrictEqual(byPull.chunks.flat(), [100, 200])
      assert.deepStrictEqual(byPull.end, Option.none())
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Stream.runCollect(failing.pipe(recover))), [100, 200])
      // an empty chunk is no element: the failure after it still counts as before the first
      const afterEmpty = Stream.concat(Stream.fromChunk(Chunk.empty<number>()), Stream.fail("gone"))
      assert.deepStrictEqual((yield* readByPull(afterEmpty.pipe(recover))).chunks.flat(), [100, 200])
    }))

  it.effect("what the recovery refuses, and any failure after an element, fails the stream", () =>
    Effect.gen(function*() {
      const refused = yield* readByPull(Stream.fail("other").pipe(recover))
      assert.deepStrictEqual(refused.end, Option.some("not recovered: other"))
      const late = yield* readByPull(Stream.concat(Stream.make(1), Stream.fail("gone")).pipe(recover))
      assert.deepStrictEqual(late.chunks.flat(), [1])
      assert.deepStrictEqual(late.end, Option.some("gone"))
    }))

  it.effect("the failed stream is released before the recovery starts, as with Stream.catchAll", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const note = (line: string) => Effect.sync(() => void log.push(line))
      const failed = StreamStage.unwrapScoped(Effect.as(Effect.acquireRelease(note("acquire first"), () => note("release first")), Stream.fail("gone")))
      const recovered = failed.pipe(StreamStage.recoverBeforeFirst(() => StreamStage.unwrap(Effect.as(note("recovery starts"), Stream.make(1)))))
      yield* Stream.runDrain(recovered)
      assert.deepStrictEqual(log, ["acquire first", "release first", "recovery starts"])
      log.length = 0
      yield* readByPull(recovered)
      assert.deepStrictEqual(log, ["acquire first", "release first", "recovery starts"])
    }))

  it.effect("once the stream has ended or failed, later pulls end or fail the same, without pulling it again", () =>
    Effect.gen(function*() {
      for (const [after, expected] of [[Option.none(), Option.none()], [Option.some("late"), Option.some("late")]] as const) {
        let pulls = 0
        // a raw pull that would give more after its end
        const upstream = StreamStage.fromPull<number, string, never, never>(Effect.succeed(Effect.suspend(() => {
          pulls++
          return pulls === 1 ? Effect.succeed(Chunk.make(1)) : pulls === 2 ? Effect.fail(after) : Effect.succeed(Chunk.make(99))
        })))
        yield* Effect.scoped(Effect.gen(function*() {
          const pull = yield* StreamStage.toPull(upstream.pipe(recover))
          assert.deepStrictEqual(Chunk.toReadonlyArray(yield* pull), [1])
          for (let i = 0; i < 3; i++) assert.deepStrictEqual(yield* Effect.flip(pull), expected)
        }))
        assert.strictEqual(pulls, 2)
      }
    }))
})
