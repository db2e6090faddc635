// Preloaded into a benchmarked process (`node --expose-gc --import`): on SIGUSR2, collects garbage twice and writes
// `process.memoryUsage()` to BENCH_HEAP_FILE. The JS heap left after a full collection, divided by the streams held,
// is what each open stream keeps alive; resident memory also holds what V8 and the allocator have not given back, and
// moves by tens of KiB per stream between runs of one build.
import { renameSync, writeFileSync } from "node:fs"

// written whole, then renamed into place: the bench polls the file, and must never read it half-written
const publish = (file, value) => {
  writeFileSync(`${file}.tmp`, JSON.stringify(value))
  renameSync(`${file}.tmp`, file)
}

const file = process.env.BENCH_HEAP_FILE
if (file !== undefined && typeof globalThis.gc === "function") {
  process.on("SIGUSR2", () => {
    globalThis.gc()
    globalThis.gc()
    publish(file, { at: Date.now(), ...process.memoryUsage() })
  })
}
