/**
 * The documented API cannot drift from the real one: every ```ts block of an `@example` in `src/**\/*.ts` and of the
 * package README is type-checked (as Effect's docgen does), importing core by its package name as a consumer would,
 * with the workspace's compiler settings (strict, exactOptionalPropertyTypes, NodeNext). A failure names the file and
 * line of the example.
 */
import { assert, describe, it } from "@effect/vitest"
import * as path from "node:path"
import ts from "typescript"
import { coreDir, docstringExamples, type Example, readmeExamples } from "./utils/examples.js"

/** Where the examples pretend to live: inside the package, so `@letta-pipeline/core` resolves to itself. */
const virtualDir = path.join(coreDir, "test", "__examples__")

const compilerOptions = (): ts.CompilerOptions => {
  const configPath = path.join(coreDir, "tsconfig.json")
  const read = ts.readConfigFile(configPath, ts.sys.readFile)
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, coreDir)
  return { ...parsed.options, noEmit: true, incremental: false, composite: false }
}

/** `file:line: message` for each diagnostic, at the example's place in its source. */
const check = (examples: ReadonlyArray<Example>): Array<string> => {
  const virtual = new Map(examples.map((example, index) => [path.join(virtualDir, `example${index}.ts`), example]))
  const options = compilerOptions()
  const host = ts.createCompilerHost(options)
  const { fileExists, readFile, getSourceFile } = host
  host.fileExists = (file) => virtual.has(file) || fileExists(file)
  host.readFile = (file) => virtual.get(file)?.code ?? readFile(file)
  host.getSourceFile = (file, language, onError, create) => {
    const example = virtual.get(file)
    return example === undefined
      ? getSourceFile(file, language, onError, create)
      : ts.createSourceFile(file, example.code, language, true)
  }
  const program = ts.createProgram([...virtual.keys()], options, host)
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")
    const example = diagnostic.file === undefined ? undefined : virtual.get(diagnostic.file.fileName)
    if (diagnostic.file === undefined || diagnostic.start === undefined) return `TS${diagnostic.code}: ${text}`
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
    const where = example === undefined
      ? `${diagnostic.file.fileName}:${line + 1}`
      : `${path.relative(coreDir, example.file)}:${example.line + line}`
    return `${where}: TS${diagnostic.code}: ${text}`
  })
}

describe("documentation examples", () => {
  it("every @example of the sources and every ts block of the README compiles against the API", () => {
    const fromSources = docstringExamples()
    const fromReadme = readmeExamples()
    // the main entry points are documented by example (a check with nothing to check would pass vacuously)
    const documented = new Set(fromSources.map((example) => path.relative(path.join(coreDir, "src"), example.file)))
    for (const file of ["Pipeline.ts", "LettaClient.ts", "LettaBackend.ts", "StreamEvent.ts", "node/HttpTransport.ts"]) {
      assert.isTrue(documented.has(file), `src/${file} has no @example`)
    }
    assert.isAtLeast(fromReadme.length, 2, "the README's examples were not found")
    const errors = check([...fromSources, ...fromReadme])
    assert.deepStrictEqual(errors, [], `examples that do not compile:\n${errors.join("\n")}`)
  }, 120_000)

  it("the extraction finds a known example where it is", () => {
    const [first] = readmeExamples()
    assert.isDefined(first)
    assert.include(first?.code ?? "", "Pipeline.layerConfig")
  })
})
