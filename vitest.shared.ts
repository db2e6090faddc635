import { defineConfig } from "vitest/config"

/** Shared by every package: sources resolved through the workspace's source condition, one setup file. */
export default defineConfig({
  resolve: { conditions: ["@letta-pipeline/source"] },
  ssr: { resolve: { conditions: ["@letta-pipeline/source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["./test/setup.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000
  }
})
