/**
 * Before the CLI's tests: the real Letta App Server that `AppServer.test.ts`, `OpenWebUIAppServer.test.ts` and
 * `StopThenSend.test.ts` start, installed into `.cache/app-server` at the repository's root once
 * (`scripts/install-app-server.mjs`: idempotent, locked against parallel runs, about a minute the first time, nothing
 * after). Here rather than at `pnpm install`, which needs only what running the project needs; and here rather than in
 * a test, whose timeout would start with the download.
 */
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const script = fileURLToPath(new URL("../../../scripts/install-app-server.mjs", import.meta.url))

export default function setup(): void {
  // the script never fails: without the App Server its tests fail and say so, the others still run
  execFileSync(process.execPath, [script], { stdio: "inherit" })
}
