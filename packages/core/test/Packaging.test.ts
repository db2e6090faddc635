/**
 * Core as a library, outside the workspace: the built package is platform-neutral (nothing outside
 * `@letta-pipeline/core/node` loads Node, `ws` or SQL drivers) and free of import side effects; `pnpm pack` makes a
 * tarball that npm installs into a scratch project with the catalog's peer versions, where the README's quick start
 * type-checks under `strict` + `exactOptionalPropertyTypes` (NodeNext) against the packed declarations, the internals
 * cannot be imported, and the program runs one turn against the emulator.
 *
 * Needs core built (`pnpm build`; turbo builds before testing) and npm's registry.
 */
import { Command, FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import ts from "typescript"
import * as Emulator from "./utils/emulator.js"
import { coreDir, readmeExamples } from "./utils/examples.js"

const repoDir = path.resolve(coreDir, "..", "..")
const distDir = path.join(coreDir, "dist")
const demoAgentId = "agent-a1b2c3d4-0000-4000-8000-000000000001"

/** What a module outside the Node entry must not import. */
const nodeOnly = (specifier: string): boolean =>
  specifier.startsWith("node:") ||
  specifier === "ws" ||
  /^@effect\/(platform-node|sql)/.test(specifier) ||
  ["fs", "path", "http", "https", "net", "tls", "crypto", "os", "stream", "url", "child_process"].includes(specifier)

/** Every `.js` file under `dir`, relative to it. */
const jsFiles = (dir: string, prefix = ""): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? jsFiles(path.join(dir, entry.name), `${prefix}${entry.name}/`)
      : entry.name.endsWith(".js")
      ? [`${prefix}${entry.name}`]
      : []
  )

const isNodeEntry = (file: string): boolean => file === "node.js" || file.startsWith("node/")

const importsOf = (file: string): Array<string> =>
  ts.preProcessFile(fs.readFileSync(path.join(distDir, file), "utf8"), true, true).importedFiles.map((i) => i.fileName)

/** `dist` exists and no source is newer than it: the package under test is the code under test. */
const assertBuilt = () => {
  const missing = "core's dist is missing or older than its sources: run `npx -y pnpm@10.34.9 build` first"
  assert.isTrue(fs.existsSync(path.join(distDir, "index.js")), missing)
  const sources = fs.readdirSync(path.join(coreDir, "src"), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
  for (const source of sources) {
    const built = path.join(distDir, source.replace(/\.ts$/, ".js"))
    assert.isTrue(fs.existsSync(built), `${missing} (no dist for src/${source})`)
    assert.isTrue(
      fs.statSync(built).mtimeMs >= fs.statSync(path.join(coreDir, "src", source)).mtimeMs,
      `${missing} (src/${source} is newer)`
    )
  }
}

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command to its end; fails with the command, its exit code and its output when it does not exit 0. */
const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: Record<string, string>; readonly allowFailure?: boolean }
) =>
  Effect.gen(function*() {
    const process_ = yield* Command.make(command, ...args).pipe(
      Command.workingDirectory(options.cwd),
      Command.env(options.env ?? {}),
      Command.start
    )
    const text = (stream: Stream.Stream<Uint8Array, unknown>) => Stream.mkString(Stream.decodeText(stream))
    const [stdout, stderr, code] = yield* Effect.all([text(process_.stdout), text(process_.stderr), process_.exitCode], {
      concurrency: "unbounded"
    })
    const ran: Ran = { code, stdout, stderr }
    if (code !== 0 && options.allowFailure !== true) {
      return yield* Effect.dieMessage(
        `\`${command} ${args.join(" ")}\` (in ${options.cwd}) exited ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`
      )
    }
    return ran
  }).pipe(Effect.scoped)

/** The versions of the workspace catalog (`pnpm-workspace.yaml`), by package name. */
const catalog = (): ReadonlyMap<string, string> => {
  const yaml = fs.readFileSync(path.join(repoDir, "pnpm-workspace.yaml"), "utf8")
  const section = yaml.split(/^catalog:\s*$/m)[1]?.split(/^\S/m)[0] ?? ""
  return new Map(
    [...section.matchAll(/^\s+"?([^":\s]+)"?:\s*(\S+)\s*$/gm)].map((m): [string, string] => [m[1] ?? "", m[2] ?? ""])
  )
}

describe("the built package", () => {
  it("imports nothing Node-only outside @letta-pipeline/core/node", () => {
    assertBuilt()
    const offending: Array<string> = []
    for (const file of jsFiles(distDir).filter((f) => !isNodeEntry(f))) {
      for (const specifier of importsOf(file)) {
        if (nodeOnly(specifier)) offending.push(`dist/${file} imports ${specifier}`)
        // the neutral modules never reach into the Node entry either
        else if (/(^|\/)node(\.js|\/)/.test(specifier) && specifier.startsWith(".")) {
          offending.push(`dist/${file} imports the Node entry (${specifier})`)
        }
      }
    }
    assert.deepStrictEqual(offending, [])
    // the index lists exactly the neutral public modules
    const index = importsOf("index.js")
    assert.isFalse(index.some((s) => s.includes("node") || s.includes("internal")), index.join(", "))
  })

  it("has no side effects on import (`sideEffects: false` holds): top-level code only declares", () => {
    assertBuilt()
    const effects: Array<string> = []
    for (const file of jsFiles(distDir)) {
      const source = ts.createSourceFile(file, fs.readFileSync(path.join(distDir, file), "utf8"), ts.ScriptTarget.ES2022)
      for (const statement of source.statements) {
        const declares = ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement) ||
          ts.isExportAssignment(statement) || ts.isVariableStatement(statement) || ts.isFunctionDeclaration(statement) ||
          ts.isClassDeclaration(statement) || ts.isEmptyStatement(statement)
        const bareImport = ts.isImportDeclaration(statement) && statement.importClause === undefined
        if (!declares || bareImport) {
          effects.push(`dist/${file}:${source.getLineAndCharacterOfPosition(statement.getStart(source)).line + 1}`)
        }
      }
    }
    assert.deepStrictEqual(effects, [])
    assert.strictEqual(JSON.parse(fs.readFileSync(path.join(coreDir, "package.json"), "utf8")).sideEffects, false)
  })
})

layer(NodeContext.layer, { excludeTestServices: true })("packed, installed with npm, compiled and run", (it) => {
  it.scoped("the README's quick start against the emulator", () =>
    Effect.gen(function*() {
      assertBuilt()
      const fileSystem = yield* FileSystem.FileSystem
      // outside the workspace, so that nothing resolves through it
      const scratch = yield* fileSystem.makeTempDirectoryScoped({ directory: os.tmpdir(), prefix: "letta-core-pack-" })
      assert.strictEqual(path.relative(repoDir, scratch).split(path.sep)[0], "..", `${scratch} is inside the workspace`)

      // pack: the tarball's package.json is the published one
      yield* run("npx", ["-y", "pnpm@10.34.9", "pack", "--pack-destination", scratch], { cwd: coreDir })
      const tarball = fs.readdirSync(scratch).find((f) => f.endsWith(".tgz"))
      assert.isDefined(tarball, "pnpm pack wrote no tarball")
      const packed = yield* run("tar", ["-xOzf", path.join(scratch, tarball ?? ""), "package/package.json"], {
        cwd: scratch
      })
      assert.notInclude(packed.stdout, "@letta-pipeline/source", "the published exports point at the sources")
      assert.notInclude(packed.stdout, "catalog:", "a catalog: range was not replaced")
      assert.notInclude(packed.stdout, "workspace:", "a workspace: range was not replaced")
      assert.notInclude(packed.stdout, "\"private\"", "the package is private")
      const listing = yield* run("tar", ["-tzf", path.join(scratch, tarball ?? "")], { cwd: scratch })
      assert.include(listing.stdout, "package/dist/node.d.ts")
      assert.include(listing.stdout, "package/README.md")
      assert.notInclude(listing.stdout, "package/test/", "the tests are packed")

      // a consumer: the tarball, the peers at the catalog's versions, TypeScript
      const versions = catalog()
      const at = (name: string) => {
        const version = versions.get(name)
        assert.isDefined(version, `${name} is not in the catalog of pnpm-workspace.yaml`)
        return `${name}@${version}`
      }
      const project = path.join(scratch, "consumer")
      fs.mkdirSync(path.join(project, "src"), { recursive: true })
      fs.writeFileSync(
        path.join(project, "package.json"),
        JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2)
      )
      yield* run("npm", [
        "install",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        path.join(scratch, tarball ?? ""),
        at("effect"),
        at("@effect/platform"),
        at("@effect/platform-node"),
        at("typescript"),
        at("@types/node")
      ], { cwd: project })

      fs.writeFileSync(
        path.join(project, "tsconfig.json"),
        JSON.stringify(
          {
            compilerOptions: {
              target: "ES2022",
              lib: ["ES2023"],
              module: "NodeNext",
              moduleResolution: "NodeNext",
              types: ["node"],
              strict: true,
              exactOptionalPropertyTypes: true,
              noUnusedLocals: true,
              skipLibCheck: false,
              outDir: "dist",
              rootDir: "src"
            },
            include: ["src"]
          },
          null,
          2
        )
      )
      const [quickStart] = readmeExamples()
      assert.isDefined(quickStart, "the README has no ts example")
      fs.writeFileSync(path.join(project, "src", "main.ts"), quickStart?.code ?? "")
      const tsc = path.join(project, "node_modules", "typescript", "bin", "tsc")
      // `skipLibCheck: false` so that core's declarations are checked too; Effect's own need the DOM library and
      // `@types/ws` (which is why consumers skip them), so only errors in the program or in core count
      const compiled = yield* run(process.execPath, [tsc, "-p", "."], { cwd: project, allowFailure: true })
      const ours = compiled.stdout.split("\n").filter((line) =>
        /^(src\/|node_modules\/@letta-pipeline\/)/.test(line)
      )
      assert.deepStrictEqual(ours, [], `the quick start does not compile against the packed package:\n${compiled.stdout}`)
      assert.isTrue(fs.existsSync(path.join(project, "dist", "main.js")), `tsc emitted nothing:\n${compiled.stdout}`)

      // the internals are closed, to the compiler and to Node
      fs.writeFileSync(path.join(project, "internal.ts"), "import * as Http from \"@letta-pipeline/core/internal/http\"\nexport { Http }\n")
      const closed = yield* run(process.execPath, [
        tsc,
        "--noEmit",
        "--strict",
        "--module",
        "NodeNext",
        "--moduleResolution",
        "NodeNext",
        "internal.ts"
      ], { cwd: project, allowFailure: true })
      assert.notStrictEqual(closed.code, 0, "@letta-pipeline/core/internal/http type-checks in a consumer")
      assert.include(closed.stdout, "@letta-pipeline/core/internal/http")
      const runtime = yield* run(process.execPath, [
        "--input-type=module",
        "-e",
        "await import(\"@letta-pipeline/core/internal/http.js\")"
      ], { cwd: project, allowFailure: true })
      assert.include(runtime.stderr, "ERR_PACKAGE_PATH_NOT_EXPORTED")
      // the public subpaths are open
      yield* run(process.execPath, [
        "--input-type=module",
        "-e",
        "const m = await import(\"@letta-pipeline/core/LettaClient\"); if (typeof m.layer !== \"object\") process.exit(1)"
      ], { cwd: project })

      // one turn against the emulator
      const url = yield* Emulator.start
      const turn = yield* run(process.execPath, [path.join(project, "dist", "main.js")], {
        cwd: project,
        env: { LETTA_BASE_URL: url, LETTA_AGENT_ID: demoAgentId }
      })
      assert.match(turn.stdout, /^answer: \S/m, `no answer in:\n${turn.stdout}\n${turn.stderr}`)
      assert.match(turn.stdout, /^delta: /m, `no streamed delta in:\n${turn.stdout}`)
    }), { timeout: 600_000 })
})
