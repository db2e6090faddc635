/**
 * Retries of idempotent reads after transient failures, as the official Letta SDKs do: connection failures, connect
 * timeouts, 408, 409, 429 and 5xx, with jittered exponential backoff (0.5 s, 1 s, 2 s, … at most 8 s). Turns are never
 * retried: once a message may have reached Letta, sending it again could duplicate it.
 */
import { Duration, Effect, Schedule } from "effect"
import type { PipelineError } from "../LettaError.js"

const retriedStatuses = (status: number) => status === 408 || status === 409 || status === 429 || status >= 500

/** Whether a failure may pass if the same idempotent call is made again. */
export const isTransient = (error: PipelineError): boolean => {
  switch (error._tag) {
    case "HttpError":
      return error.reason === "Transport" ||
        (error.reason === "Timeout" && error.phase === "connect") ||
        (error.reason === "StatusCode" && error.status !== undefined && retriedStatuses(error.status))
    case "LettaError":
      return error.status !== undefined && retriedStatuses(error.status)
    default:
      return false
  }
}

const backoff = Schedule.exponential(Duration.millis(500), 2).pipe(
  Schedule.modifyDelay((delay) => Duration.min(delay, Duration.seconds(8))),
  Schedule.jittered
)

/** Retries `effect` up to `retries` times while its failure is transient, logging each retry. */
export const retryTransient = (retries: number, what: string) =>
<A, E extends PipelineError, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  retries <= 0 ? effect : Effect.suspend(() => {
    let attempt = 0
    return effect.pipe(
      Effect.tapError((error) => {
        attempt += 1
        return isTransient(error) && attempt <= retries
          ? Effect.logDebug(`${what} failed, retrying (${attempt} of ${retries}): ${error.message}`)
          : Effect.void
      }),
      Effect.retry({ schedule: backoff, times: retries, while: isTransient })
    )
  })

/**
 * Whether Letta refused a turn because the conversation (or agent) is still busy with another run: a 409 that is not a
 * pending approval (`{"detail": {"code": "PENDING_APPROVAL", …}}`, which waiting does not resolve). Letta checks this
 * before it stores anything, so sending the message again cannot duplicate it.
 */
export const isBusy = (error: PipelineError): boolean =>
  error._tag === "LettaError" && error.reason === "Conflict" && error.status === 409 &&
  error.errorType !== "PENDING_APPROVAL"

/**
 * Sends a turn again while Letta answers that its conversation is busy (a run the user just stopped still winding
 * down), for at most `maxWait`, with a growing pause (0.25 s, 0.5 s, then every second); the wait is logged once. Any
 * other failure, or one past `maxWait`, passes through.
 */
export const waitWhileBusy = (maxWait: Duration.Duration, what: string) =>
<A, E extends PipelineError, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Duration.toMillis(maxWait) <= 0 ? effect : Effect.catchIf(effect, isBusy, (first) => {
    // built only once Letta said busy: the common turn pays for one failure check, not for a retry schedule
    const pauses = Schedule.exponential(Duration.millis(250), 2).pipe(
      Schedule.modifyDelay((delay) => Duration.min(delay, Duration.seconds(1))),
      Schedule.upTo(maxWait)
    )
    return Effect.logInfo(`${what}: Letta is still busy with an earlier run (HTTP 409: ${first.message}); ` +
      `sending again for up to ${Duration.format(maxWait)}`).pipe(
        Effect.zipRight(Effect.suspend(() => {
          // the schedule starts at the refusal already received: its first pause comes before the second attempt
          let refused = true
          const attempt = Effect.suspend(() => (refused ? ((refused = false), Effect.fail(first)) : effect))
          return Effect.retry(attempt, { schedule: pauses, while: isBusy })
        }))
      )
  })
