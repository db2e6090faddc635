#!/usr/bin/env node
// Installs the pinned Letta App Server (@letta-ai/letta-code) into .cache/app-server for the integration tests.
// The npm registry lacks two of its optional dependencies, so `npm i` fails; the bundle only needs `ws` at run time:
// npm pack, unpack, copy, add ws (shared/reference/letta-app-server.md §1). Idempotent; never fails the install.
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, cpSync, rmSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"

const version = "0.32.18"
const root = resolve(import.meta.dirname, "..", ".cache", "app-server")
const entry = join(root, "node_modules", "@letta-ai", "letta-code", "letta.js")
const marker = join(root, `installed-${version}`)

if (existsSync(entry) && existsSync(marker)) process.exit(0)
try {
  rmSync(root, { recursive: true, force: true })
  mkdirSync(join(root, "pack"), { recursive: true })
  const npm = (args, cwd) => execFileSync("npm", args, { cwd, stdio: ["ignore", "pipe", "pipe"] })
  npm(["pack", `@letta-ai/letta-code@${version}`, "--silent"], join(root, "pack"))
  execFileSync("tar", ["xzf", `letta-ai-letta-code-${version}.tgz`], { cwd: join(root, "pack") })
  writeFileSync(join(root, "package.json"), JSON.stringify({ name: "letta-app-server", private: true, type: "module" }))
  npm(["install", "ws@^8.19.0", "--no-audit", "--no-fund", "--silent"], root)
  cpSync(join(root, "pack", "package"), join(root, "node_modules", "@letta-ai", "letta-code"), { recursive: true })
  rmSync(join(root, "pack"), { recursive: true, force: true })
  writeFileSync(marker, "")
  console.log(`Letta App Server ${version} installed in .cache/app-server`)
} catch (error) {
  console.warn(`warning: the Letta App Server could not be installed (${error.message.split("\n")[0]}); its tests will fail`)
}
