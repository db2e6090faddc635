/**
 * Sockets to a Letta App Server: one per call, opened with the bearer token on the upgrade, its text frames decoded
 * (`appServerFrames.ts`). A command waits for its `<type>_response`; a turn sends `input`, follows the normalised frames
 * until its `turn_finished`, and sends `abort_message` when it is interrupted.
 *
 * The WebSocket comes from the context (`Socket.WebSocketConstructor`), so this module runs wherever one is provided.
 */
import { Socket } from "@effect/platform"
import {
  type Context,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  identity,
  Option,
  Queue,
  Redacted,
  Schema,
  Stream,
  Take
} from "effect"
import type * as LettaConfig from "../LettaConfig.js"
import { DecodeError, excerptOf, HttpError, LettaError, type PipelineError } from "../LettaError.js"
import type * as LettaSchema from "../LettaSchema.js"
import * as StreamStage from "../StreamStage.js"
import * as Frames from "./appServerFrames.js"
import * as Http from "./http.js"
import { retryTransient } from "./retry.js"
import * as Timeouts from "./timeouts.js"
import { randomUUID } from "./uuid.js"

/**
 * Largest frame accepted (100 MiB, in bytes for a binary frame and characters for a text one): the `maxPayload` that
 * `ws`, the constructor this client always used, enforces by default, kept for any constructor.
 */
export const defaultMaxFrameSize = 100 * 1024 * 1024

/**
 * Frames received and not yet read (characters of their text) above which the socket stops reading, and below which
 * it reads again: a consumer that reads slowly (a client on a slow network) holds the App Server back through TCP, as
 * a REST turn's does, instead of its frames piling up here.
 */
const pauseAbove = 4 * 1024 * 1024
const resumeBelow = 1024 * 1024

/** What `ws` sockets can do and the WHATWG `WebSocket` cannot: stop reading from their connection for a while. */
interface Pausable {
  readonly pause: () => void
  readonly resume: () => void
}

const isPausable = (socket: object): socket is Pausable =>
  "pause" in socket && typeof socket.pause === "function" && "resume" in socket && typeof socket.resume === "function"

export interface Options {
  /** The socket's URL (`AppServerClient.socketUrl`). */
  readonly url: string
  /** Sent as `Authorization: Bearer …` on the upgrade (`LETTA_API_KEY`), the App Server's only credential. */
  readonly token: Option.Option<Redacted.Redacted>
  readonly timeouts: LettaConfig.Timeouts
  /** Retries of a read command after a transient failure (0: none). */
  readonly retries: number
  /** Largest frame accepted; a larger one fails the call with a `TooLarge` `DecodeError`. */
  readonly maxFrameSize?: number | undefined
}

/** One command and how its response is read. */
export interface Command<A, I> {
  /** The command's other fields (`request_id` and `type` are added). */
  readonly fields?: Record<string, unknown> | undefined
  /** The whole `<type>_response` frame. */
  readonly schema: Schema.Schema<A, I>
  /** The agent it is about, named in its errors. */
  readonly agentId?: string | undefined
}

export interface Session {
  /** `WebSocket <url>`, how errors name the App Server. */
  readonly label: string
  /** One command on its own socket and its response; read commands are retried after transient failures. */
  readonly command: <A, I>(type: string, command: Command<A, I>) => Effect.Effect<A, PipelineError>
  /** A turn: `input`, then the normalised frames until `turn_finished`; interruption sends `abort_message`. */
  readonly turn: (
    runtime: Frames.Runtime,
    content: LettaSchema.MessageCreate["content"]
  ) => Stream.Stream<LettaSchema.LettaMessage, PipelineError>
  /** A failed command's error: `NotFound` when the App Server says so, `ServerError` otherwise. */
  readonly failed: (detail: string, agentId?: string) => LettaError
}

/** Commands that only read: retried after a transient failure, like the REST client's GETs. */
const readCommands = new Set(["agent_list", "agent_retrieve", "conversation_retrieve", "app_server_info"])

type Constructor = Context.Tag.Service<typeof Socket.WebSocketConstructor>
/** A constructor called with a WHATWG-style init object in place of the protocols. */
type ConstructorWithInit = (
  url: string,
  init: { readonly headers: Readonly<Record<string, string>> }
) => globalThis.WebSocket

/**
 * Opens a socket, with `headers` on the upgrade when there are any. The platform's constructor type has no room for
 * headers (a browser cannot send them), but the constructors outside browsers take a `{ headers }` object in place of
 * the protocols: `ws` (what `NodeSocket.layerWebSocketConstructor` uses on Node 20) and undici's global `WebSocket`
 * (which it prefers on Node 22). A browser would fail to open it; the App Server refuses browsers anyway (any `Origin`
 * is a 403).
 */
const open = (construct: Constructor, url: string, headers: Readonly<Record<string, string>> | undefined) =>
  headers === undefined ? construct(url) : (construct as unknown as ConstructorWithInit)(url, { headers })

/**
 * Builds the session over the context's `Socket.WebSocketConstructor`.
 */
export const make = (options: Options): Effect.Effect<Session, never, Socket.WebSocketConstructor> =>
  Effect.map(Socket.WebSocketConstructor, (construct) => {
    const limits = options.timeouts
    const watchdog = Timeouts.make({ first: limits.firstEvent, idle: limits.idle, turn: limits.turn })
    const label = `WebSocket ${options.url}`
    const maxFrameSize = options.maxFrameSize ?? defaultMaxFrameSize
    const headers = Option.match(options.token, {
      onNone: () => undefined,
      onSome: (token) => ({ authorization: `Bearer ${Redacted.value(token)}` })
    })

    const tooLarge = (detail: string) =>
      new DecodeError({ reason: "TooLarge", what: "App Server frame", request: label, detail })

    const transportError = (error: Socket.SocketError): LettaError | HttpError | DecodeError => {
      // `ws` names a refused upgrade's status in its error ("Unexpected server response: 401") and its own frame bound
      // ("Max payload size exceeded"); other constructors say neither, and are transport errors
      const cause = error.cause
      const causeText = typeof cause === "object" && cause !== null && "message" in cause && typeof cause.message === "string"
        ? cause.message
        : String(cause ?? "")
      const text = `${error.message} ${causeText}`
      if (/\b401\b/.test(text)) {
        return new LettaError({ reason: "Unauthorized", detail: "the App Server refused the bearer token", request: label })
      }
      if (/max payload size exceeded/i.test(text)) return tooLarge(excerptOf(text.trim()))
      // a `wss://` App Server whose certificate is not trusted: the same error, and advice, as over HTTPS
      const tls = Http.tlsFailure(cause)
      if (tls !== undefined) return new HttpError({ reason: "Tls", request: label, detail: tls, cause: error })
      return new HttpError({ reason: "Transport", request: label, detail: excerptOf(text.trim()), cause: error })
    }

    /** An open socket: send a command, and the frames that arrive, until the socket closes. */
    const connect = Effect.gen(function*() {
      let pausable: Pausable | undefined
      const socket = yield* Socket.fromWebSocket(
        Effect.acquireRelease(
          Effect.sync(() => {
            const ws = open(construct, options.url, headers)
            if (isPausable(ws)) pausable = ws
            return ws
          }),
          (ws) => Effect.sync(() => ws.close(1000))
        ),
        { closeCodeIsError: () => false }
      )
      // frames in order, then how the socket ended; what is unread is bounded by pausing the socket (`pauseAbove`)
      const incoming = yield* Queue.unbounded<Take.Take<string, LettaError | HttpError | DecodeError>>()
      let unread = 0
      let paused = false
      const closed = yield* Deferred.make<void, LettaError | HttpError | DecodeError>()
      const decoder = new TextDecoder()
      yield* socket.runRaw((data) => {
        if (data.length > maxFrameSize) {
          return Queue.offer(incoming, Take.fail(tooLarge(
            `a frame of ${data.length} ${typeof data === "string" ? "characters" : "bytes"}, more than ${maxFrameSize}`
          )))
        }
        const text = typeof data === "string" ? data : decoder.decode(data)
        unread += text.length
        if (!paused && unread > pauseAbove && pausable !== undefined) {
          paused = true
          pausable.pause()
        }
        return Queue.offer(incoming, Take.of(text))
      }).pipe(
        Effect.mapError(transportError),
        Effect.exit,
        Effect.tap((exit) => Queue.offer(incoming, Exit.isSuccess(exit) ? Take.end : Take.failCause(exit.cause))),
        Effect.flatMap((exit) => Deferred.done(closed, Exit.asVoid(exit))),
        Effect.forkScoped
      )
      const write = yield* socket.writer
      // the platform's writer waits for the socket to be open: a socket that failed or closed would keep it waiting
      const gone = Deferred.await(closed).pipe(
        Effect.zipRight(Effect.fail(new HttpError({ reason: "Transport", request: label, detail: "the App Server closed the socket" })))
      )
      const send = (command: Record<string, unknown>) =>
        write(Frames.encodeJson(command)).pipe(Effect.mapError(transportError), Effect.raceFirst(gone))
      const frames: Stream.Stream<Frames.Frame, LettaError | HttpError | DecodeError> = Stream.fromQueue(incoming).pipe(
        Stream.flattenTake,
        Stream.mapEffect((text) => {
          unread -= text.length
          if (paused && unread < resumeBelow && pausable !== undefined) {
            paused = false
            pausable.resume()
          }
          return Either.match(Frames.decodeFrame(text), {
            onRight: Effect.succeed,
            onLeft: (detail) =>
              Effect.fail(new DecodeError({ reason: "Schema", what: "App Server frame", request: label, excerpt: excerptOf(text), detail }))
          })
        })
      )
      /** Ends `frames` where they are (a timeout's way to stop the wait). */
      const abort = Queue.offer(incoming, Take.end)
      return { send, frames, abort }
    })

    const failed = (detail: string, agentId?: string): LettaError =>
      new LettaError({
        reason: /not found/i.test(detail) ? "NotFound" : "ServerError",
        detail,
        request: label,
        ...(agentId === undefined ? {} : { agentId })
      })

    const command = <A, I>(
      type: string,
      { agentId, fields = {}, schema }: Command<A, I>
    ): Effect.Effect<A, PipelineError> =>
      Effect.scoped(Effect.gen(function*() {
        const requestId = `lp-${randomUUID()}`
        const connection = yield* connect
        yield* connection.send({ type, request_id: requestId, ...fields })
        const response = yield* connection.frames.pipe(
          Stream.filterMap((frame) =>
            frame._tag === "Response" && frame.requestId === requestId ? Option.some(frame) : Option.none()
          ),
          Stream.runHead,
          Effect.timeoutFail({
            duration: limits.connect,
            onTimeout: () => new HttpError({ reason: "Timeout", phase: "connect", request: label, detail: `no ${type}_response` })
          })
        )
        if (Option.isNone(response)) {
          return yield* new HttpError({ reason: "Transport", request: label, detail: `the App Server closed the socket before answering ${type}` })
        }
        if (!response.value.success) return yield* failed(response.value.error ?? `${type} failed`, agentId)
        return yield* Schema.decodeUnknown(schema)(response.value.body).pipe(
          Effect.mapError((error) => new DecodeError({ reason: "Schema", what: `${type} response`, request: label, detail: error.message }))
        )
      })).pipe(readCommands.has(type) ? retryTransient(options.retries, `${type} on ${label}`) : identity)

    const turn = (
      runtime: Frames.Runtime,
      content: LettaSchema.MessageCreate["content"]
    ): Stream.Stream<LettaSchema.LettaMessage, PipelineError> =>
      StreamStage.unwrapScoped(Effect.gen(function*() {
        const agentId = runtime.agent_id
        const connection = yield* connect
        let finished = false
        yield* Effect.addFinalizer(() =>
          finished
            ? Effect.void
            : connection.send({ type: "abort_message", runtime, request_id: `lp-abort-${randomUUID()}` }).pipe(
              // finalizers are uninterruptible: without this the timeout could not cut a stuck write
              Effect.interruptible,
              Effect.timeout(Duration.seconds(1)),
              Effect.ignore
            )
        )
        const ids: Frames.TurnIds = { requestId: `lp-${randomUUID()}`, clientMessageId: `lp-${randomUUID()}` }
        const normalise = Frames.normalise(runtime, label, ids)
        let state = Frames.startState
        yield* connection.send({
          type: "input",
          request_id: ids.requestId,
          runtime,
          payload: {
            kind: "create_message",
            exclude_interactive_tools: true,
            messages: [{
              role: "user",
              content: typeof content === "string" ? [{ type: "text", text: content }] : content,
              client_message_id: ids.clientMessageId
            }]
          }
        })
        const ended = new LettaError({
          reason: "Incomplete",
          detail: "the App Server closed the socket before the turn finished",
          agentId
        })
        // A queued input can stay queued for good: when the turn before it ends, the App Server schedules one pump of
        // its queue on that turn's socket, which a client that stopped the turn has closed, and the pump gives up.
        // `resume_queue` schedules a pump on this socket, but not while the stale one is still scheduled: so it is sent
        // when the input is queued, when the turn before ends, and every half second until the input is taken off the
        // queue (bounded by the turn's timeouts). It changes nothing else (recorded with App Server 0.32.18).
        let queued = false
        const scope = yield* Effect.scope
        const resume = connection.send({ type: "resume_queue", runtime, request_id: `lp-resume-${randomUUID()}` })
        const keepResuming = Effect.sleep(Duration.millis(500)).pipe(
          Effect.zipRight(Effect.suspend(() => (queued ? resume : Effect.void))),
          Effect.repeat({ while: () => queued })
        )
        const resumeWhenQueued = (frame: Frames.Frame): Effect.Effect<void, PipelineError> => {
          if (frame._tag === "Accepted" && frame.requestId === ids.requestId && frame.disposition === "queued") {
            queued = true
            return Effect.zipRight(resume, Effect.asVoid(Effect.forkIn(Effect.ignore(keepResuming), scope)))
          }
          if (!queued) return Effect.void
          if (frame._tag === "Dequeued" && frame.clientMessageIds.includes(ids.clientMessageId)) queued = false
          if (frame._tag === "Delta" && Frames.isEcho(frame.delta, ids.clientMessageId)) queued = false
          return frame._tag === "Finished" && queued ? resume : Effect.void
        }
        return connection.frames.pipe(
          Stream.tap(resumeWhenQueued),
          // every frame counts as activity, status updates included
          watchdog.withTimeouts(label, connection.abort),
          // frames to Letta's messages in one stage: up to the step that ends the turn, or fails it (without what that
          // step would emit); a socket that closes before then fails the turn as incomplete
          StreamStage.stage<Frames.Frame, LettaSchema.LettaMessage, PipelineError, PipelineError>({
            onChunk: (chunk) => {
              const out: Array<LettaSchema.LettaMessage> = []
              for (const frame of chunk) {
                const [next, step] = normalise(state, frame)
                state = next
                if (step.error !== undefined) return { emit: out, end: { error: step.error } }
                for (const message of step.emit) out.push(message)
                if (step.end) {
                  finished = true
                  return { emit: out, end: true }
                }
              }
              return { emit: out }
            },
            onFailure: (error) => ({ emit: [], end: { error } }),
            onEnd: () => (finished ? { emit: [], end: true } : { emit: [], end: { error: ended } })
          })
        )
      }))

    return { label, command, turn, failed }
  })
