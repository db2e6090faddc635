/**
 * Building blocks for streams on a hot path: a stage made of synchronous functions, and `unwrap` / `unwrapScoped`
 * without `Stream.flatMap`.
 *
 * Every `Stream` operator that transforms elements (`map`, `mapAccum`, `takeWhile`, `filterMap`, `flatMap`, …) adds a
 * channel executor through which each chunk passes; at token rates those steps, not the work done in them, were most
 * of a turn's CPU time and of an open stream's memory (`docs/benchmarks.md`). Folds at the stream's end (`catchAll`,
 * `concat`, `ensuring`) cost nothing per chunk.
 *
 * @since 0.1.0
 */
import { Cause, Channel, Chunk, Effect, Either, Scope, Stream } from "effect"

/**
 * What a {@link stage} does with what it read: `emit` these elements, then go on (`end` absent), end the stream
 * (`end: true`) or fail it (`end: { error }`).
 *
 * @category models
 */
export interface StageOutput<B, E> {
  readonly emit: ReadonlyArray<B>
  readonly end?: true | { readonly error: E } | undefined
}

/**
 * The synchronous functions of a {@link stage}: what to do with each chunk read, with the upstream's failure and with
 * its end. A consumer that pulls chunks itself (a response written in one loop) can apply them without a stage.
 *
 * @category models
 */
export interface Handlers<A, B, E, E2> {
  readonly onChunk: (chunk: Chunk.Chunk<A>) => StageOutput<B, E2>
  readonly onFailure: (error: E) => StageOutput<B, E2>
  readonly onEnd: () => StageOutput<B, E2>
  /**
   * Called each time the stage is about to wait for its next chunk; an error given back fails the stream with it
   * instead (a timeout that fired meanwhile). Optional.
   */
  readonly onPull?: (() => E2 | undefined) | undefined
}

/**
 * A stream stage from synchronous functions: each chunk read, the upstream's failure and its end, handled in one place.
 *
 * One stage costs a step per chunk however much it does, where a chain of `map`, `mapAccum`, `takeWhile`, `catchAll`
 * and `concat` costs a step per operator: at token rates the steps, not the work, were most of a turn's CPU time. A
 * stage that ends early (`end`) releases its upstream. Defects and interruptions pass through untouched.
 *
 * @category combinators
 */
export const stage = <A, B, E, E2>(handlers: Handlers<A, B, E, E2>) =>
<R>(self: Stream.Stream<A, E, R>): Stream.Stream<B, E2, R> => {
  const emit = (output: StageOutput<B, E2>, then: Channel.Channel<Chunk.Chunk<B>, Chunk.Chunk<A>, E2, E, unknown, unknown>) =>
    output.emit.length === 0 ? then : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(output.emit)), then)
  const finish = (output: StageOutput<B, E2>) =>
    emit(output, output.end === undefined || output.end === true ? Channel.void : Channel.fail(output.end.error))
  const read: Channel.Channel<Chunk.Chunk<B>, Chunk.Chunk<A>, E2, E, unknown, unknown> = Channel.readWithCause({
    onInput: (chunk: Chunk.Chunk<A>) => {
      const output = handlers.onChunk(chunk)
      return output.end === undefined ? emit(output, loop) : finish(output)
    },
    onFailure: (cause: Cause.Cause<E>) =>
      Either.match(Cause.failureOrCause(cause), {
        onLeft: (error) => finish(handlers.onFailure(error)),
        onRight: (other) => Channel.failCause(other)
      }),
    onDone: () => finish(handlers.onEnd())
  })
  const onPull = handlers.onPull
  const loop: Channel.Channel<Chunk.Chunk<B>, Chunk.Chunk<A>, E2, E, unknown, unknown> = onPull === undefined
    ? read
    : Channel.suspend(() => {
      const error = onPull()
      return error === undefined ? read : Channel.fail(error)
    })
  return Stream.pipeThroughChannel(self, loop)
}

/**
 * `Stream.unwrap` as a channel's: the stream of an effect, with no `flatMap` stage (`Stream.unwrap` is one).
 *
 * @category constructors
 */
export const unwrap = <A, E2, R2, E, R>(
  effect: Effect.Effect<Stream.Stream<A, E2, R2>, E, R>
): Stream.Stream<A, E | E2, R | R2> => Stream.fromChannel(Channel.unwrap(Effect.map(effect, Stream.toChannel)))

/**
 * `Stream.unwrapScoped` likewise: the effect runs in a scope of its own, closed when the stream ends.
 *
 * @category constructors
 */
export const unwrapScoped = <A, E2, R2, E, R>(
  effect: Effect.Effect<Stream.Stream<A, E2, R2>, E, R>
): Stream.Stream<A, E | E2, R2 | Exclude<R, Scope.Scope>> =>
  Stream.fromChannel(Channel.acquireUseRelease(
    Scope.make(),
    (scope) => Channel.unwrap(Effect.map(Scope.extend(effect, scope), Stream.toChannel)),
    (scope, exit) => Scope.close(scope, exit)
  ))
