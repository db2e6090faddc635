/**
 * Building blocks for streams on a hot path: stages made of synchronous functions, and streams that can be read as a
 * pull without Effect's channel machinery.
 *
 * Every `Stream` operator that transforms elements (`map`, `mapAccum`, `takeWhile`, `filterMap`, `flatMap`, …) adds a
 * channel executor through which each chunk passes, and reading a stream (`Stream.toPull`, `Stream.run*`) runs them
 * all: about 140 KiB allocated to read a three-element stream, whatever its elements (`docs/benchmarks.md`). The
 * streams built here ({@link fromPull} and everything built on it: {@link stage}, {@link unwrap}, {@link suspend},
 * {@link ensuring}, {@link recoverBeforeFirst}) are also known by how to open them as a pull, so that a consumer that
 * loops itself ({@link toPull}) reads them with one effect per chunk and no executor. Run as ordinary streams, they are
 * one `Stream.fromPull` each; a stream built otherwise is read through `Stream.toPull`.
 *
 * @since 0.1.0
 */
import { Cause, Chunk, Context, Effect, Exit, Option, Scope, Stream } from "effect"

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
 * A stream read chunk by chunk, as `Stream.toPull` gives it: each run yields the next chunk, fails with `Some(error)`
 * when the stream fails and with `None` when it has ended.
 *
 * @category models
 */
export type Pull<A, E, R = never> = Effect.Effect<Chunk.Chunk<A>, Option.Option<E>, R>

/**
 * Where a stream of {@link fromPull} keeps how it is opened: a property of its own under a symbol of this module. A
 * `WeakMap` beside the streams cost about 0.5 µs a stream to fill (and more for the collector), against 0.02 µs.
 */
const opener: unique symbol = Symbol.for("@letta-pipeline/core/StreamStage/opener")

/** A stream of {@link fromPull}, as this module sees it. */
interface Openable<A, E, R> extends Stream.Stream<A, E, R> {
  [opener]?: Effect.Effect<Pull<A, E, R>, never, Scope.Scope | R>
}

/**
 * The stream of a pull that `open` makes in the stream's scope (its resources are released when the scope closes).
 * Read by {@link toPull}, `open` runs in the reader's scope instead, with no stream in between.
 *
 * @category constructors
 */
export const fromPull = <A, E, R, R2>(
  open: Effect.Effect<Pull<A, E, R2>, never, Scope.Scope | R>
): Stream.Stream<A, E, R2 | Exclude<R, Scope.Scope>> => {
  // built when run: read by pull, the stream's own structure is never needed
  type Out = R2 | Exclude<R, Scope.Scope>
  const stream: Openable<A, E, Out> = Stream.suspend(() => Stream.fromPull(open))
  // what the opener requires besides a Scope is what the stream requires
  stream[opener] = open as Effect.Effect<Pull<A, E, Out>, never, Scope.Scope | Out>
  return stream
}

/** How to open `self` now, in the current scope: its own opener, else `Stream.toPull`. */
const open = <A, E, R>(self: Stream.Stream<A, E, R>): Effect.Effect<Pull<A, E, R>, never, Scope.Scope | R> => {
  return (self as Openable<A, E, R>)[opener] ?? Stream.toPull(self)
}

/**
 * `Stream.toPull` for every stream, and for the streams of this module their own pull: no channel executor, one effect
 * per chunk. As with `Stream.toPull`, nothing of the stream runs before the first pull (that is when a stream of
 * {@link unwrap} runs its effect, e.g. sends its request), and its resources are released when the current scope
 * closes.
 *
 * @category destructors
 */
export const toPull = <A, E, R>(self: Stream.Stream<A, E, R>): Effect.Effect<Pull<A, E, R>, never, Scope.Scope | R> =>
  Effect.map(Effect.scope, (scope) => {
    let opened: Pull<A, E, R> | undefined
    const keep = (pull: Pull<A, E, R>) => {
      opened = pull
      return pull
    }
    // pulled where that scope is the current one (the usual case), it is not provided again: a copy of the context
    const first: Pull<A, E, R> = Effect.withFiberRuntime((fiber) =>
      Effect.flatMap(
        Context.getOption(fiber.currentContext, Scope.Scope).pipe(Option.contains(scope))
          ? open(self) as Effect.Effect<Pull<A, E, R>, never, R>
          : Scope.extend(open(self), scope),
        keep
      )
    )
    return Effect.suspend(() => opened ?? first)
  })

/** `handlers` applied to each chunk of `upstream`, as a pull; once ended, it is not pulled again. */
const through = <A, B, E, E2, R>(upstream: Pull<A, E, R>, handlers: Handlers<A, B, E, E2>): Pull<B, E2, R> => {
  // what every pull gives once the stage has ended: None (the end) or Some(its error)
  let ended: Option.Option<E2> | undefined
  const give = (output: StageOutput<B, E2>, atEnd: boolean): Pull<B, E2, R> => {
    const end = output.end ?? (atEnd ? true : undefined)
    if (end !== undefined) ended = end === true ? Option.none() : Option.some(end.error)
    if (output.emit.length > 0) return Effect.succeed(Chunk.unsafeFromArray(output.emit))
    return ended === undefined ? pull : Effect.fail(ended)
  }
  const next: Pull<B, E2, R> = Effect.matchEffect(upstream, {
    onFailure: (error) => give(Option.isNone(error) ? handlers.onEnd() : handlers.onFailure(error.value), true),
    onSuccess: (chunk) => give(handlers.onChunk(chunk), false)
  })
  const onPull = handlers.onPull
  const pull: Pull<B, E2, R> = Effect.suspend(() => {
    if (ended !== undefined) return Effect.fail(ended)
    const error = onPull === undefined ? undefined : onPull()
    if (error === undefined) return next
    ended = Option.some(error)
    return Effect.fail(ended)
  })
  return pull
}

/**
 * A stream stage from synchronous functions: each chunk read, the upstream's failure and its end, handled in one place.
 *
 * One stage costs one effect per chunk however much it does, where a chain of `map`, `mapAccum`, `takeWhile`,
 * `catchAll` and `concat` costs a channel step per operator. A stage that ends early (`end`) reads its upstream no
 * more; the upstream is released with the stream (or, read by {@link toPull}, with the reader's scope), so after the
 * stage's `onEnd` or `onFailure` has run, where `Stream`'s operators release it first (the REST transport counts on
 * this order: its frames stage says the turn is over before the body decides to drain). Defects and interruptions pass
 * through untouched. `handlers` serve every run of the stream: state that must be fresh per run
 * belongs in a {@link suspend}.
 *
 * @category combinators
 */
export const stage = <A, B, E, E2>(handlers: Handlers<A, B, E, E2>) =>
<R>(self: Stream.Stream<A, E, R>): Stream.Stream<B, E2, R> =>
  fromPull(Effect.map(open(self), (upstream) => through(upstream, handlers)))

/** The pull of an effect's stream; the effect's failure becomes the pull's first failure (its whole cause). */
const openEffect = <A, E2, R2, E, R>(
  effect: Effect.Effect<Stream.Stream<A, E2, R2>, E, R>
): Effect.Effect<Pull<A, E | E2, R2>, never, Scope.Scope | R | R2> =>
  Effect.matchCauseEffect(effect, {
    onFailure: (cause): Effect.Effect<Pull<A, E | E2, R2>> => Effect.succeed(Effect.failCause(Cause.map(cause, Option.some))),
    onSuccess: (stream) => open(stream)
  })

/**
 * `Stream.unwrap` without a `flatMap` stage: the stream of an effect, run when the stream starts. The effect runs in the
 * stream's scope (read by {@link toPull}, the reader's), so what it acquires lasts as long as the stream: this is
 * {@link unwrapScoped}, and its type says so.
 *
 * @category constructors
 */
export const unwrap = <A, E2, R2, E, R>(
  effect: Effect.Effect<Stream.Stream<A, E2, R2>, E, R>
): Stream.Stream<A, E | E2, R2 | Exclude<R, Scope.Scope>> => fromPull(openEffect(effect))

/**
 * `Stream.unwrapScoped` likewise: the effect's resources are released with the stream (or with the reader's scope).
 *
 * @category constructors
 */
export const unwrapScoped: <A, E2, R2, E, R>(
  effect: Effect.Effect<Stream.Stream<A, E2, R2>, E, R>
) => Stream.Stream<A, E | E2, R2 | Exclude<R, Scope.Scope>> = unwrap

/**
 * `Stream.suspend`: the stream made afresh, by `make`, each time it is run.
 *
 * @category constructors
 */
export const suspend = <A, E, R>(make: () => Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
  fromPull(Effect.suspend(() => open(make())))

/**
 * `Stream.ensuring`: `finalizer` runs once the stream is released, after the stream's own finalizers.
 *
 * @category combinators
 */
export const ensuring = (finalizer: Effect.Effect<unknown>) =>
<A, E, R>(self: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
  fromPull(Effect.flatMap(Effect.scope, (scope) => Effect.zipRight(Scope.addFinalizer(scope, finalizer), open(self))))

/**
 * A failure before the stream's first element is handed to `recover`, whose stream is read instead; a failure once an
 * element has come fails the stream (a turn that already answered cannot start again). The failed stream is released
 * before the recovery starts, as with `Stream.catchAll`.
 *
 * @category combinators
 */
export const recoverBeforeFirst = <E, A2, E2, R2>(recover: (error: E) => Stream.Stream<A2, E2, R2>) =>
<A, R>(self: Stream.Stream<A, E, R>): Stream.Stream<A | A2, E | E2, R | R2> =>
  fromPull(Effect.flatMap(Effect.scope, (scope) =>
    Effect.flatMap(
      // the first stream's own scope, closed when it is given up (or with the reader's)
      Effect.uninterruptible(Effect.tap(Scope.make(), (own) => Scope.addFinalizerExit(scope, (exit) => Scope.close(own, exit)))),
      (own) =>
        Effect.map(Scope.extend(open(self), own), (first) => {
          let started = false
          // once the first stream has ended or failed for good: what every later pull gives
          let ended: Option.Option<E> | undefined
          let instead: Pull<A2, E2, R2> | undefined
          const fromFirst: Pull<A | A2, E | E2, R | R2> = Effect.matchEffect(first, {
            onFailure: (error): Pull<A | A2, E | E2, R | R2> => {
              if (started || Option.isNone(error)) {
                ended = error
                return Effect.fail(error)
              }
              return Scope.close(own, Exit.fail(error.value)).pipe(
                Effect.zipRight(Scope.extend(open(recover(error.value)), scope)),
                Effect.flatMap((pull) => {
                  instead = pull
                  return pull
                })
              )
            },
            onSuccess: (chunk) => {
              if (Chunk.isNonEmpty(chunk)) started = true
              return Effect.succeed(chunk)
            }
          })
          return Effect.suspend(() => instead ?? (ended === undefined ? fromFirst : Effect.fail(ended)))
        })
    )))
