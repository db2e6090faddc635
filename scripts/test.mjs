#!/usr/bin/env node
// The test command: every package's tests through turbo (one package at a time), then one line that sums up the
// vitest reports: "N passed, N failed". With --summary, only that line (for .ci/run, after its own phases).
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"

const root = join(import.meta.dirname, "..")
const reports = () =>
  readdirSync(join(root, "packages")).map((name) => join(root, "packages", name, "vitest-report.json")).filter(existsSync)

const summary = (rc) => {
  let passed = 0
  let failed = 0
  for (const file of reports()) {
    const report = JSON.parse(readFileSync(file, "utf8"))
    passed += report.numPassedTests
    failed += report.numFailedTests
    // a file that fails to load has no failed test, only a failed suite
    for (const suite of report.testResults ?? []) {
      if (suite.status === "failed" && (suite.assertionResults ?? []).length === 0) failed += 1
    }
  }
  // a run that failed outside the tests (build, typecheck, an unhandled error) is one failure, never "0 failed"
  if (rc !== 0 && failed === 0) failed = 1
  return `${passed} passed, ${failed} failed`
}

if (process.argv.includes("--summary")) {
  console.log(summary(Number(process.env.RC ?? "0")))
} else {
  // reports of an earlier run must not count
  for (const file of reports()) rmSync(file)
  const started = Date.now()
  const turbo = spawnSync("turbo", ["run", "test", "--concurrency=1", "--continue", ...process.argv.slice(2)], {
    cwd: root,
    stdio: "inherit",
    shell: process.platform === "win32"
  })
  const rc = turbo.status ?? 1
  console.log(`\ntests took ${Math.round((Date.now() - started) / 1000)} s`)
  console.log(summary(rc))
  process.exit(rc)
}
