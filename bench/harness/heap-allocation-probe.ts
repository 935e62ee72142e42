/**
 * Preloaded into a benchmarked Node process (`--import`) by `bench/signalling-calls.bench.ts
 * --heap`: counts the bytes allocated on the JS heap between two SIGUSR2 signals, what drives
 * young-generation GC. The first SIGUSR2 starts a `v8.GCProfiler`; the second writes
 * `{ allocatedBytes, gcs }` to {@link heapAllocationFile}. Allocated = the sum over the GCs between
 * the marks of (heap used before it − heap used after the previous one, or at the start), plus the
 * growth after the last one: every byte allocated is either collected by some GC or still there.
 */
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GCProfiler, getHeapStatistics } from 'node:v8'

/** Where the process with this pid writes its count. */
export function heapAllocationFile(pid: number): string {
  return join(tmpdir(), `sbc-bench-heap-allocation-${pid}.json`)
}

// The harness imports this file for heapAllocationFile as well; it never receives SIGUSR2.
{
  let profiler: GCProfiler | undefined
  let startUsed = 0
  process.on('SIGUSR2', () => {
    if (profiler === undefined) {
      startUsed = getHeapStatistics().used_heap_size
      profiler = new GCProfiler()
      profiler.start()
      return
    }
    const endUsed = getHeapStatistics().used_heap_size
    const gcs = profiler.stop()?.statistics ?? []
    profiler = undefined
    let allocated = 0
    let previous = startUsed
    for (const g of gcs) {
      allocated += g.beforeGC.heapStatistics.usedHeapSize - previous
      previous = g.afterGC.heapStatistics.usedHeapSize
    }
    allocated += endUsed - previous
    writeFileSync(
      heapAllocationFile(process.pid),
      JSON.stringify({ allocatedBytes: allocated, gcs: gcs.length }),
    )
  })
}
