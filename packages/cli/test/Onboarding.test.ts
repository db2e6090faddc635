/**
 * A newcomer's first steps, as the README gives them, run literally: the Quick start (the first command's `start`, the
 * `curl` turn, the chat page), every line of the command line section (with its alias) and the core example, each as
 * a shell command in the repository with no Letta configured, and each step's visible outcome asserted. Every command
 * of those sections must have an expectation here, so the README and this test cannot drift apart. (The install part
 * of the first command is what the test command itself ran before; CI runs all of it on a clean clone.)
 */
import { NodeContext } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit } from "effect"
import { spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import { cleanEnv } from "./utils/cli.js"
import { count, terminal } from "./utils/tmux.js"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const readme = readFileSync(`${root}README.md`, "utf8")

/** The text of a `## ` section of the README. */
const section = (title: string): string => {
  const start = readme.indexOf(`\n## ${title}\n`)
  if (start === -1) throw new Error(`the README has no section "${title}"`)
  const end = readme.indexOf("\n## ", start + 1)
  return readme.slice(start, end === -1 ? undefined : end)
}

/** The `sh` blocks of a text. */
const shBlocks = (text: string): ReadonlyArray<string> => [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? "")

/** The commands of a block: continuation lines joined, `# comments` and blank lines dropped. */
const commands = (block: string): ReadonlyArray<string> =>
  block.replace(/\\\n\s*/g, "").split("\n").map((line) => line.replace(/\s+#\s.*$/, "").replace(/^#.*$/, "").trim())
    .filter((line) => line !== "")

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const env = { ...cleanEnv(), NO_COLOR: "1" }

/** A script run by bash in the repository (aliases on, as in a terminal), bounded. */
const bash = (script: string, within = Duration.seconds(120)) =>
  Effect.async<Ran>((resume) => {
    const child = spawn("bash", ["-O", "expand_aliases", "-c", script], { cwd: root, env, detached: true })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (part: Buffer) => void (stdout += part.toString("utf8")))
    child.stderr.on("data", (part: Buffer) => void (stderr += part.toString("utf8")))
    child.on("close", (code) => resume(Effect.succeed({ code: code ?? -1, stdout, stderr })))
    return Effect.sync(() => {
      try {
        process.kill(-(child.pid ?? 0), "SIGKILL")
      } catch {
        // already gone
      }
    })
  }).pipe(Effect.timeoutFail({ duration: within, onTimeout: () => new Error(`did not end within ${Duration.format(within)}: ${script}`) }))

/** A long-running script (a server), its process group killed with the scope; resolves once it logs "Listening on". */
const background = (script: string, within = Duration.seconds(180)) =>
  Effect.gen(function*() {
    const listening = yield* Deferred.make<string>()
    let output = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => spawn("bash", ["-O", "expand_aliases", "-c", script], { cwd: root, env, detached: true })),
      (child) =>
        Effect.async<void>((resume) => {
          if (child.exitCode !== null) return resume(Effect.void)
          child.once("close", () => resume(Effect.void))
          process.kill(-(child.pid ?? 0), "SIGTERM")
        }).pipe(Effect.timeout(Duration.seconds(10)), Effect.ignore)
    )
    const read = (part: Buffer) => {
      output += part.toString("utf8")
      const url = /listening on (http:\/\/[^\s"]+)/i.exec(output)?.[1]
      if (url !== undefined) Deferred.unsafeDone(listening, Exit.succeed(url))
    }
    child.stdout.on("data", read)
    child.stderr.on("data", read)
    child.on("close", (code) => Deferred.unsafeDone(listening, Exit.die(new Error(`${script} ended (${code}) before listening:\n${output}`))))
    const url = yield* Deferred.await(listening).pipe(
      Effect.timeoutFail({ duration: within, onTimeout: () => new Error(`${script} did not listen:\n${output}`) })
    )
    return { url, output: () => output }
  })

/** Fails with a clear message when a port the README names is taken on this machine. */
const portFree = (port: number) =>
  Effect.async<boolean>((resume) => {
    const server = net.createServer()
    server.once("error", () => resume(Effect.succeed(false)))
    server.listen(port, "127.0.0.1", () => server.close(() => resume(Effect.succeed(true))))
  }).pipe(Effect.filterOrFail((free) => free, () => new Error(`port ${port}, which the README uses, is taken on this machine`)))

const demoAgentId = "agent-a1b2c3d4-0000-4000-8000-000000000001"
const notice = "LETTA_BASE_URL is not set: using the built-in emulated Letta"

/** What each command of the command line section must show (keyed by the command as the README writes it). */
const expectations: Record<string, (ran: Ran) => void> = {
  [`letta-pipeline chat "Hello! Can you search for Letta memory?"`]: (ran) => {
    assert.strictEqual(ran.code, 0, ran.stderr)
    assert.include(ran.stderr, notice)
    assert.match(ran.stdout, /^→ web_search \{"query":"Letta memory"\}\n← success: Found 3 results/m)
    assert.include(ran.stdout, `I searched for "Letta memory"`)
  },
  [`echo "What did I just ask?" | letta-pipeline chat`]: (ran) => {
    assert.strictEqual(ran.code, 0, ran.stderr)
    assert.include(ran.stdout, `You said: "What did I just ask?"`)
  },
  [`letta-pipeline chat "Hello!" --json | head -3`]: (ran) => {
    assert.strictEqual(ran.code, 0, ran.stderr)
    const lines = ran.stdout.trimEnd().split("\n")
    assert.strictEqual(lines.length, 3)
    for (const line of lines) assert.isString((JSON.parse(line) as { type: unknown }).type)
    // the closed pipe ends the command quietly
    assert.notMatch(ran.stderr, /EPIPE|Error:|\n\s+at /)
  },
  ["letta-pipeline agents"]: (ran) => {
    assert.strictEqual(ran.code, 0, ran.stderr)
    assert.match(ran.stdout, /^ID\s+NAME\s+TAGS\s+DESCRIPTION$/m)
    assert.match(ran.stdout, new RegExp(`^${demoAgentId}\\s+demo-agent\\s+demo\\s`, "m"))
  },
  [`letta-pipeline chat --agent demo-agent "Who are you?"`]: (ran) => {
    assert.strictEqual(ran.code, 0, ran.stderr)
    assert.include(ran.stdout, "I am demo-agent")
  },
  ["letta-pipeline doctor"]: (ran) => {
    assert.strictEqual(ran.code, 0, ran.stdout)
    for (const check of ["configuration", "reachable", "credentials", "agent", "streaming"]) {
      assert.match(ran.stdout, new RegExp(`^✓ ${check}: `, "m"), ran.stdout)
    }
    assert.include(ran.stdout, `agent: demo-agent (${demoAgentId})`)
  }
}

const alias = commands(shBlocks(section("The command line"))[0] ?? "")
const cliCommands = commands(shBlocks(section("The command line"))[1] ?? "")

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} -]/gu, "").replace(/ /g, "-")

layer(NodeContext.layer, { excludeTestServices: true })("the README, followed literally", (it) => {
  it("MIT in LICENSE and in every package.json; install runs nothing of the project's own (no postinstall)", () => {
    assert.match(readFileSync(`${root}LICENSE`, "utf8"), /^MIT License/)
    const manifests = ["", "bench/", ...readdirSync(`${root}packages`).map((name) => `packages/${name}/`)]
      .map((dir) => `${root}${dir}package.json`).filter(existsSync)
    assert.isAtLeast(manifests.length, 6)
    for (const file of manifests) {
      const manifest = JSON.parse(readFileSync(file, "utf8")) as { license?: string; scripts?: Record<string, string> }
      assert.strictEqual(manifest.license, "MIT", file)
      for (const hook of ["preinstall", "install", "postinstall", "prepare"]) {
        assert.notProperty(manifest.scripts ?? {}, hook, `${file}: ${hook}`)
      }
    }
  })

  it("every link points into the README or to a file of the repository", () => {
    const anchors = new Set([...readme.matchAll(/^#{1,4} (.*)$/gm)].map((m) => slug(m[1] ?? "")))
    const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? "").filter((link) => !/^https?:/.test(link))
    assert.isAbove(links.length, 5)
    for (const link of links) {
      if (link.startsWith("#")) assert.isTrue(anchors.has(link.slice(1)), `no heading for ${link}`)
      else assert.isTrue(existsSync(`${root}${link}`), `no file ${link}`)
    }
  })

  it.effect("Quick start: the first command serves the emulated Letta; the curl turn streams its events; the chat page", () =>
    Effect.gen(function*() {
      const [first] = commands(readme.slice(0, readme.indexOf("\n## ")).match(/```sh\n([\s\S]*?)```/)?.[1] ?? "")
      const [install, start] = (first ?? "").split(" && ")
      assert.strictEqual(install, "npx -y pnpm@10.34.9 install --frozen-lockfile")
      assert.strictEqual(start, "npx -y pnpm@10.34.9 start")
      yield* portFree(3000)
      const server = yield* background(start ?? "")
      assert.strictEqual(server.url, "http://127.0.0.1:3000")
      assert.include(server.output(), `with its demo agent demo-agent (${demoAgentId})`)
      assert.include(server.output(), notice)

      const [curl] = commands(shBlocks(section("Quick start"))[0] ?? "")
      assert.match(curl ?? "", /^curl -N http:\/\/127\.0\.0\.1:3000\/v1\/pipe /)
      const turn = yield* bash(curl ?? "")
      assert.strictEqual(turn.code, 0, turn.stderr)
      // each `data:` line is one event with its `type` (a `message` has no `event:` line: SSE's default type)
      const events = [...turn.stdout.matchAll(/^data: (.*)$/gm)].map((m) => (JSON.parse(m[1] ?? "") as { type: string }).type)
      // what the README says the turn shows, in order
      const order = ["reasoning", "tool_call", "tool_result", "message", "usage", "done"].map((type) => events.indexOf(type))
      assert.isFalse(order.includes(-1), turn.stdout)
      assert.deepStrictEqual([...order].sort((a, b) => a - b), order, turn.stdout)
      assert.include(turn.stdout, `"name":"web_search"`)

      const page = yield* bash(`curl -s -H 'accept: text/html' ${server.url}/`)
      assert.include(page.stdout, `<script type="module" src="/assets/app.js"></script>`)
    }).pipe(Effect.scoped), { timeout: 300_000 })

  it.effect("the command line: the alias, then every command as written, each with its visible outcome", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(alias, [`alias letta-pipeline="node $PWD/packages/cli/bin/letta-pipeline.js"`])
      const prelude = `${alias[0]}\n`
      for (const command of cliCommands) {
        const expectation = expectations[command]
        if (expectation !== undefined) {
          expectation(yield* bash(prelude + command))
          continue
        }
        if (command === "letta-pipeline chat") {
          // interactive, in a real terminal: the prompt, one turn, /exit
          const { keys, open, until } = terminal(`letta-onboarding-${process.pid}`)
          yield* open(`bash -O expand_aliases -c 'cd ${root}
${prelude}${command}; echo EXIT=$?; sleep 60'`, env)
          yield* until((text) => text.includes("› "), "the prompt")
          yield* keys("Who are you?", "Enter")
          // the answer, then the next prompt
          yield* until((text) => text.includes("I am demo-agent") && count(text, "› ") >= 2, "the answer")
          yield* keys("/exit", "Enter")
          yield* until((text) => text.includes("EXIT=0"), "a clean exit")
          continue
        }
        const server = /^letta-pipeline (serve|emulator) --port (\d+)$/.exec(command)
        if (server !== null) {
          // the servers: listening on the port the README names, and answering
          yield* portFree(Number(server[2]))
          const running = yield* Effect.scoped(Effect.gen(function*() {
            const started = yield* background(prelude + command)
            const probe = yield* bash(`curl -s ${started.url}${server[1] === "serve" ? "/health" : "/v1/health/"}`)
            return { ...started, probe }
          }))
          assert.strictEqual(running.url, `http://127.0.0.1:${server[2]}`)
          assert.match(running.probe.stdout, /ok/i, running.probe.stdout)
          continue
        }
        assert.fail(`the README's command line section has a command this test does not know: ${command}`)
      }
    }).pipe(Effect.scoped), { timeout: 300_000 })

  it.effect("the core example: the file the README shows, run as the README says; a failed turn exits 1", () =>
    Effect.gen(function*() {
      const core = section("The core API")
      const shown = /```ts\n([\s\S]*?)```/.exec(core)?.[1] ?? ""
      const file = readFileSync(`${root}packages/core/examples/chat.ts`, "utf8")
      assert.strictEqual(file.slice(file.indexOf("import ")), shown)
      const [emulator, example, ...rest] = commands(shBlocks(core)[0] ?? "")
      assert.deepStrictEqual(rest, [])
      const server = emulator ?? ""
      assert.strictEqual(server, "node packages/cli/bin/letta-pipeline.js emulator --port 8283")
      yield* portFree(8283)
      const ran = yield* Effect.scoped(Effect.zipRight(background(server), bash(example ?? "")))
      assert.strictEqual(ran.code, 0, ran.stderr)
      assert.include(ran.stdout, `{"type":"message"`)
      assert.include(ran.stdout, `Answer: You said: "Hello!"`)
      // the same program against a Letta that is not there: exit 1 and the cause in one line
      const down = yield* bash((example ?? "").replace("127.0.0.1:8283", "127.0.0.1:9"))
      assert.strictEqual(down.code, 1, down.stdout)
      assert.include(down.stderr, "The turn failed: Cannot reach Letta")
    }), { timeout: 300_000 })
})
