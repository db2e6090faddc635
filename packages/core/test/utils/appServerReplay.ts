/**
 * A loopback WebSocket server that answers each command with the frames a real Letta App Server sent after it in a
 * recording (`test/fixtures/ws-frames-*.jsonl`), with the client's own `request_id` and `client_message_id` in place
 * of the recorded ones. Started in a Scope, closed with it.
 */
import { Effect, Queue, type Scope } from "effect"
import { readFileSync } from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import { WebSocketServer } from "ws"

export type Frame = Record<string, unknown> & { readonly type: string }

interface Recorded {
  readonly dir: "in" | "out"
  readonly frame: Frame
}

export const recording = (name: string): ReadonlyArray<Recorded> =>
  readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Recorded)

/** The `stream_delta` payloads of a recording, in order. */
export const deltas = (frames: ReadonlyArray<Recorded>): ReadonlyArray<Record<string, unknown>> =>
  frames.flatMap(({ dir, frame }) =>
    dir === "in" && frame.type === "stream_delta" ? [frame.delta as Record<string, unknown>] : []
  )

/** The first command of a type in a recording. */
export const command = (frames: ReadonlyArray<Recorded>, type: string): Frame => {
  const found = frames.find(({ dir, frame }) => dir === "out" && frame.type === type)
  if (found === undefined) throw new Error(`no ${type} in the recording`)
  return found.frame
}

export interface Options {
  readonly frames: ReadonlyArray<Recorded>
  /** Upgrades without `Authorization: Bearer <token>` get a 401. */
  readonly token?: string
  /** Stop replaying before the first server frame that matches: keep the socket open, or close it. */
  readonly stopAt?: { readonly frame: (frame: Frame) => boolean; readonly then: "hold" | "close" }
  /** Served over TLS with this certificate and key (`wss://`). */
  readonly tls?: { readonly cert: string; readonly key: string }
}

export interface Replay {
  readonly url: string
  /** Every command the client sent, in order. */
  readonly received: Queue.Dequeue<Frame>
  readonly upgrades: ReadonlyArray<http.IncomingHttpHeaders>
  /** What the server has sent and its connections have not yet taken, over its open sockets (bytes). */
  readonly unsent: () => number
}

interface Exchange {
  readonly command: Frame
  readonly replies: ReadonlyArray<Frame>
  used: boolean
}

const exchanges = (frames: ReadonlyArray<Recorded>): Array<Exchange> =>
  frames.reduce<Array<Exchange>>((all, { dir, frame }) => {
    if (dir === "out") return [...all, { command: frame, replies: [], used: false }]
    const last = all.at(-1)
    return last === undefined ? all : [...all.slice(0, -1), { ...last, replies: [...last.replies, frame] }]
  }, [])

/** The `client_message_id` of an `input` command. */
const clientMessageId = (command: Frame): string | undefined => {
  const messages = (command.payload as { messages?: ReadonlyArray<{ client_message_id?: string }> } | undefined)?.messages
  return messages?.[0]?.client_message_id
}

/** A reply as the App Server would send it to this client: the recorded message ids replaced by the ones it sent. */
const ownIds = (ids: ReadonlyMap<string, string>) => (text: string): string => {
  let out = text
  for (const [from, to] of ids) out = out.replaceAll(JSON.stringify(from), JSON.stringify(to))
  return out
}

export const replay = (options: Options): Effect.Effect<Replay, never, Scope.Scope> =>
  Effect.gen(function*() {
    const received = yield* Queue.unbounded<Frame>()
    const upgrades: Array<http.IncomingHttpHeaders> = []
    const script = exchanges(options.frames)
    // recorded client_message_id → the one the client sent, for every reply after its input
    const messageIds = new Map<string, string>()
    const notFound = (_: http.IncomingMessage, response: http.ServerResponse) => response.writeHead(404).end()
    const server = options.tls === undefined ? http.createServer(notFound) : https.createServer(options.tls, notFound)
    const sockets = new WebSocketServer({ noServer: true })
    server.on("upgrade", (request, socket, head) => {
      upgrades.push(request.headers)
      if (options.token !== undefined && request.headers.authorization !== `Bearer ${options.token}`) {
        socket.end("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
      }
      sockets.handleUpgrade(request, socket, head, (ws) => {
        ws.on("message", (data) => {
          const sent = JSON.parse(String(data)) as Frame
          Queue.unsafeOffer(received, sent)
          const exchange = script.find((candidate) => !candidate.used && candidate.command.type === sent.type)
          if (exchange === undefined) return
          exchange.used = true
          const [recordedId, sentId] = [clientMessageId(exchange.command), clientMessageId(sent)]
          if (recordedId !== undefined && sentId !== undefined) messageIds.set(recordedId, sentId)
          for (const reply of exchange.replies) {
            if (options.stopAt?.frame(reply) === true) {
              if (options.stopAt.then === "close") ws.close()
              return
            }
            ws.send(ownIds(messageIds)(JSON.stringify("request_id" in reply ? { ...reply, request_id: sent.request_id } : reply)))
          }
        })
      })
    })
    yield* Effect.acquireRelease(
      Effect.async<void>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.void))
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const client of sockets.clients) client.terminate()
          sockets.close()
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    const scheme = options.tls === undefined ? "ws" : "wss"
    return {
      url: `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`,
      received,
      upgrades,
      unsent: () => [...sockets.clients].reduce((sum, client) => sum + client.bufferedAmount, 0)
    }
  })

/** The next command of a type the client sent (earlier ones of other types are skipped). */
export const nextCommand = (replay: Replay, type: string): Effect.Effect<Frame> =>
  Queue.take(replay.received).pipe(
    Effect.repeat({ until: (frame) => frame.type === type })
  )
