/**
 * The README's main job, as a real process: `letta-pipeline serve` with no Letta configured serves the embedded
 * emulator's demo agent.
 */
import { Command, HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Deferred, Duration, Effect, Layer, Option, Ref, Stream, String as Str } from "effect"
import { fileURLToPath } from "node:url"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))

/** Starts the CLI from source; resolves with the URL it listens on and its first log lines. */
const startServe = Effect.gen(function*() {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("LETTA_")))
  const process_ = yield* Command.make("npx", "tsx", "--conditions=@letta-pipeline/source", main, "serve", "--port", "0").pipe(
    Command.env({ ...env, NO_COLOR: "1" }),
    Command.start
  )
  // keep reading the logs (stderr) for the process' whole life: a closed pipe would kill it at its next log line
  const lines = yield* Ref.make<ReadonlyArray<string>>([])
  const listening = yield* Deferred.make<string>()
  yield* process_.stderr.pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.runForEach((line) =>
      Effect.zipRight(
        Ref.update(lines, (all) => [...all, line]),
        Option.match(Option.fromNullable(/Listening on (http:\/\/[^\s"]+)/.exec(line)?.[1]), {
          onNone: () => Effect.void,
          onSome: (url) => Effect.asVoid(Deferred.succeed(listening, url))
        })
      )
    ),
    Effect.forkScoped
  )
  const url = yield* Deferred.await(listening).pipe(
    Effect.timeoutFail({ duration: Duration.seconds(60), onTimeout: () => new Error("serve did not start") })
  )
  return { url, lines: yield* Ref.get(lines) }
})

layer(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici), { excludeTestServices: true })("main job", (it) => {
  it.scoped("without LETTA_BASE_URL, serve says it uses the emulator and answers with its demo agent", () =>
    Effect.gen(function*() {
      const { url, lines } = yield* startServe
      const first = lines.join("\n")
      assert.include(first, "LETTA_BASE_URL is not set: using the built-in Letta emulator")
      assert.include(first, "(demo-agent)")
      // sent as soon as the server says it listens: every route must be served by then
      const response = yield* HttpClient.execute(
        HttpClientRequest.post(`${url}/v1/pipe`).pipe(
          HttpClientRequest.bodyUnsafeJson({ messages: [{ role: "user", content: "Hello main job" }] })
        )
      )
      const text = yield* response.text
      const content = text.split("\n")
        .filter((line) => line.startsWith("data: "))
        .map((line) => JSON.parse(line.slice(6)))
        .filter((event) => event.type === "message")
        .map((event) => event.data.content)
        .join("")
      assert.include(content, "You said: \"Hello main job\"")
      assert.isTrue(Str.includes("event: done")(text))
      // the newcomer's browser gets the chat page
      const page = yield* HttpClient.execute(HttpClientRequest.get(url).pipe(HttpClientRequest.setHeader("accept", "text/html")))
      assert.include(yield* page.text, "<script type=\"module\" src=\"/assets/app.js\"></script>")
    }), { timeout: 90_000 })
})
