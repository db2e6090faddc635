// Test instrument, preloaded into the server process by the soak suite (NODE_OPTIONS="--expose-gc --require"):
// every LIVE_HEAP_EVERY ms a full GC, then one line with what is still alive. Heap "used" without a GC mostly
// measures garbage that V8 has not collected yet.
const every = Number(process.env.LIVE_HEAP_EVERY ?? 5000)
setInterval(() => {
  globalThis.gc()
  const memory = process.memoryUsage()
  const resources = process.getActiveResourcesInfo()
  const kinds = {}
  for (const kind of resources) kinds[kind] = (kinds[kind] ?? 0) + 1
  const sample = { at: Date.now(), heap: memory.heapUsed, rss: memory.rss, handles: resources.length, kinds }
  process.stderr.write(`live-heap ${JSON.stringify(sample)}\n`)
}, every).unref()
