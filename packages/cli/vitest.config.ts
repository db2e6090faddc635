import { defineConfig, mergeConfig } from "vitest/config"
import shared from "../../vitest.shared.js"

// One file at a time: the reliability suites print latencies that a parallel suite on 2 cores would skew.
export default mergeConfig(shared, defineConfig({ test: { fileParallelism: false } }))
