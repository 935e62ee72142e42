import { spawn } from 'node:child_process'
import { once } from 'node:events'

/** What the kernel counted for a set of processes (every thread of each) while the count ran. */
export interface SyscallCount {
  syscalls: number
  contextSwitches: number
}

/**
 * Counts system calls (the `raw_syscalls:sys_enter` tracepoint) and context switches of `pids` and
 * all their threads with `perf stat`, in the kernel: no per-call tracing cost is added to the
 * processes measured, unlike strace. Why it is in the signalling benchmark: CPU per call splits
 * into what the code does and how often it crosses into the kernel and sleeps; the second is what a
 * Node event loop and a Kamailio worker do differently. Needs perf and the right to trace the PIDs
 * (root, or perf_event_paranoid ≤ 1 for one's own processes). `stop()` ends the count (SIGINT, which
 * makes perf print its totals) and resolves with them.
 */
export function startSyscallCount(pids: readonly number[]): { stop(): Promise<SyscallCount> } {
  const perf = spawn(
    'perf',
    ['stat', '-x', ',', '-e', 'raw_syscalls:sys_enter,context-switches', '-p', pids.join(',')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let err = ''
  perf.stderr.on('data', (d: Buffer) => {
    err += d.toString()
  })
  const exited = once(perf, 'exit')
  return {
    async stop() {
      perf.kill('SIGINT')
      await exited
      // CSV lines: value,unit,event,... ("<not counted>" or "<not supported>" when perf could not count).
      const value = (event: string) => {
        const line = err.split('\n').find((l) => l.split(',')[2] === event)
        const n = Number(line?.split(',')[0])
        if (!line || !Number.isFinite(n))
          throw new Error(`perf stat did not count ${event}: ${err.trim().slice(0, 500)}`)
        return n
      }
      return { syscalls: value('raw_syscalls:sys_enter'), contextSwitches: value('context-switches') }
    },
  }
}
