// Preloaded into a benchmarked process (`node --import`): on SIGUSR2 starts V8's sampling heap profiler, counting
// objects collected since, and on the next SIGUSR2 stops it and writes the bytes sampled to BENCH_ALLOC_FILE. Bytes
// allocated per turn move far less between runs than CPU time on a shared machine, so they show a change that CPU
// time hides in noise. The inspector session is connected only while sampling: a connected session makes every
// console call go to it as well, which cost the server's access log 7 % of a short turn's CPU.
import { Session } from "node:inspector/promises"
import { renameSync, writeFileSync } from "node:fs"

// written whole, then renamed into place: the bench polls the file, and must never read it half-written
const publish = (file, value) => {
  writeFileSync(`${file}.tmp`, JSON.stringify(value))
  renameSync(`${file}.tmp`, file)
}

const file = process.env.BENCH_ALLOC_FILE
if (file !== undefined) {
  let session
  let sampling = false
  process.on("SIGUSR2", async () => {
    if (!sampling) {
      sampling = true
      session = new Session()
      session.connect()
      await session.post("HeapProfiler.startSampling", {
        samplingInterval: 1024,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true
      })
      publish(file, { state: "on" })
      return
    }
    sampling = false
    const { profile } = await session.post("HeapProfiler.stopSampling")
    session.disconnect()
    let bytes = 0
    const visit = (node) => {
      bytes += node.selfSize
      for (const child of node.children ?? []) visit(child)
    }
    visit(profile.head)
    publish(file, { state: "off", bytes })
  })
}
