// Test instrument, preloaded into the server process by the soak suite (NODE_OPTIONS="--expose-gc --require"):
// every LIVE_HEAP_EVERY ms a full GC, then one line with what is still alive. Heap "used" without a GC mostly
// measures garbage that V8 has not collected yet.
const every = Number(process.env.LIVE_HEAP_EVERY ?? 5000)
setInterval(() => {
  globalThis.gc()
  const memory = process.memoryUsage()
  const sample = { at: Date.now(), heap: memory.heapUsed, rss: memory.rss, handles: process.getActiveResourcesInfo().length }
  process.stderr.write(`live-heap ${JSON.stringify(sample)}\n`)
}, every).unref()
