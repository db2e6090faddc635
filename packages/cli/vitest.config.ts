import { defineConfig, mergeConfig } from "vitest/config"
import shared from "../../vitest.shared.js"

// One file at a time: the reliability suites print latencies that a parallel suite on 2 cores would skew. The global
// setup fetches the Letta App Server its tests start, once, before any test's timeout runs.
export default mergeConfig(shared, defineConfig({ test: { fileParallelism: false, globalSetup: ["./test/globalSetup.ts"] } }))
