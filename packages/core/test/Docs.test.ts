/**
 * The documented API cannot drift from the real one: every ```ts block of an `@example` in `src/**\/*.ts` and of the
 * package README is type-checked (as Effect's docgen does), importing core by its package name as a consumer would,
 * with the workspace's compiler settings (strict, exactOptionalPropertyTypes, NodeNext). A failure names the file and
 * line of the example.
 */
import { Command, FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as path from "node:path"
import { createRequire } from "node:module"
import { coreDir, docstringExamples, type Example, readmeExamples } from "./utils/examples.js"

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")

/**
 * `file:line: message` for each compiler error, at the example's place in its source. The examples are written inside
 * the package (so that `@letta-pipeline/core` resolves to itself, as for a consumer) and compiled by `tsc` in a child
 * process, which keeps the test worker responsive.
 */
const check = (examples: ReadonlyArray<Example>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ directory: path.join(coreDir, "test"), prefix: "__examples__" })
    yield* Effect.forEach(examples, (example, index) => fs.writeFileString(path.join(dir, `example${index}.ts`), example.code))
    const config = { extends: "../../tsconfig.json", compilerOptions: { noEmit: true, incremental: false }, include: ["*.ts"] }
    yield* fs.writeFileString(path.join(dir, "tsconfig.json"), JSON.stringify(config))
    const output = yield* Command.make(process.execPath, tsc, "-p", dir, "--pretty", "false").pipe(
      Command.workingDirectory(coreDir),
      Command.string
    )
    // `<file>(<line>,<column>): error TS<code>: <message>`, continuation lines indented
    const where = /^(.*)\((\d+),\d+\): (.*)$/
    return output.split("\n").filter((line) => line.trim() !== "").map((line) => {
      const match = where.exec(line)
      if (match === null) return line
      const [, file = "", row = "0", message = ""] = match
      const index = /example(\d+)\.ts$/.exec(file)?.[1]
      const example = index === undefined ? undefined : examples[Number(index)]
      return example === undefined
        ? line
        : `${path.relative(coreDir, example.file)}:${example.line + Number(row) - 1}: ${message}`
    })
  }).pipe(Effect.scoped)

layer(NodeContext.layer, { excludeTestServices: true })("documentation examples", (it) => {
  it.effect("every @example of the sources and every ts block of the README compiles against the API", () =>
    Effect.gen(function*() {
      const fromSources = docstringExamples()
      const fromReadme = readmeExamples()
      // the main entry points are documented by example (a check with nothing to check would pass vacuously)
      const documented = new Set(fromSources.map((example) => path.relative(path.join(coreDir, "src"), example.file)))
      for (const file of ["Pipeline.ts", "LettaClient.ts", "LettaBackend.ts", "StreamEvent.ts", "node/HttpTransport.ts"]) {
        assert.isTrue(documented.has(file), `src/${file} has no @example`)
      }
      assert.isAtLeast(fromReadme.length, 2, "the README's examples were not found")
      const errors = yield* check([...fromSources, ...fromReadme])
      assert.deepStrictEqual(errors, [], `examples that do not compile:\n${errors.join("\n")}`)
    }), 180_000)

  it("the extraction finds a known example where it is", () => {
    const [first] = readmeExamples()
    assert.isDefined(first)
    assert.include(first?.code ?? "", "Pipeline.layerConfig")
  })
})
