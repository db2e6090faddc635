#!/usr/bin/env node
// Installs the pinned Letta App Server (@letta-ai/letta-code) into .cache/app-server for the integration tests. Run by
// the CLI tests' global setup (packages/cli/test/globalSetup.ts) before the first test, not at `pnpm install`: running
// the project does not need it. The npm registry lacks two of its optional dependencies, so `npm i` fails; the bundle
// only needs `ws` at run time: npm pack, unpack, copy, add ws (shared/reference/letta-app-server.md §1).
// Idempotent (a marker names the installed version); one install at a time (a lock folder, taken over when the
// process holding it is gone); never fails its caller: the App Server tests then say it is missing.
import { execFileSync } from "node:child_process"
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"

const version = "0.32.18"
const root = resolve(import.meta.dirname, "..", ".cache", "app-server")
const entry = join(root, "node_modules", "@letta-ai", "letta-code", "letta.js")
const marker = join(root, `installed-${version}`)
const lock = `${root}.lock`
const owner = join(lock, "pid")
// a fresh install takes about a minute (two npm calls): wait for another one that long and more
const lockWaitMs = 10 * 60 * 1000

const installed = () => existsSync(entry) && existsSync(marker)

const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

/** Whether the lock's holder is gone: its process no longer runs, or it never wrote its pid (a minute on). */
const stale = () => {
  let pid = 0
  try {
    pid = Number(readFileSync(owner, "utf8"))
  } catch {
    // not written yet, or the lock is gone meanwhile
  }
  if (Number.isInteger(pid) && pid > 0) {
    try {
      process.kill(pid, 0)
      return false
    } catch (error) {
      return error.code !== "EPERM" // EPERM: it runs, as another user
    }
  }
  try {
    return Date.now() - statSync(lock).mtimeMs > 60_000
  } catch {
    return false // gone meanwhile: the next mkdir decides
  }
}

/** Takes the lock (mkdir is atomic), waiting while another live process holds it; false after `lockWaitMs`. */
const acquire = () => {
  mkdirSync(resolve(root, ".."), { recursive: true })
  const deadline = Date.now() + lockWaitMs
  for (let said = false; Date.now() < deadline;) {
    try {
      mkdirSync(lock)
      writeFileSync(owner, String(process.pid))
      return true
    } catch (error) {
      if (error.code !== "EEXIST") throw error
    }
    if (stale()) {
      rmSync(lock, { recursive: true, force: true })
      continue
    }
    if (!said) console.log("Letta App Server: another process is installing it, waiting")
    said = true
    sleep(500)
  }
  return false
}

const install = () => {
  rmSync(root, { recursive: true, force: true })
  mkdirSync(join(root, "pack"), { recursive: true })
  const npm = (args, cwd) => execFileSync("npm", args, { cwd, stdio: ["ignore", "pipe", "pipe"] })
  npm(["pack", `@letta-ai/letta-code@${version}`, "--silent"], join(root, "pack"))
  execFileSync("tar", ["xzf", `letta-ai-letta-code-${version}.tgz`], { cwd: join(root, "pack") })
  writeFileSync(join(root, "package.json"), JSON.stringify({ name: "letta-app-server", private: true, type: "module" }))
  npm(["install", "ws@^8.19.0", "--no-audit", "--no-fund", "--silent"], root)
  cpSync(join(root, "pack", "package"), join(root, "node_modules", "@letta-ai", "letta-code"), { recursive: true })
  rmSync(join(root, "pack"), { recursive: true, force: true })
  // last: a half-done install has no marker and is redone
  writeFileSync(marker, "")
}

if (!installed()) {
  try {
    if (!acquire()) throw new Error(`another install held ${lock} for ${lockWaitMs / 60_000} minutes`)
    try {
      // another process may have installed it while this one waited
      if (!installed()) {
        console.log(`Letta App Server ${version}: installing into .cache/app-server (once; about a minute)`)
        install()
        console.log(`Letta App Server ${version} installed in .cache/app-server`)
      }
    } finally {
      rmSync(lock, { recursive: true, force: true })
    }
  } catch (error) {
    console.warn(`warning: the Letta App Server could not be installed (${error.message.split("\n")[0]}); its tests will fail`)
  }
}
