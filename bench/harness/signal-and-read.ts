import { readFileSync } from 'node:fs'

/**
 * Sends SIGUSR2 to `pid`, whose preloaded probe answers by writing a JSON report to `file`
 * (bench/harness/promise-count-hook.ts, heap-allocation-probe.ts), and returns the report once it
 * reads whole: polled every 20 ms, a file still being written is read again. Throws after
 * `timeoutMs`.
 */
export async function signalAndRead<T>(
  pid: number,
  file: string,
  what: string,
  timeoutMs: number,
): Promise<T> {
  process.kill(pid, 'SIGUSR2')
  const until = Date.now() + timeoutMs
  let last: unknown
  do {
    await new Promise((r) => setTimeout(r, 20))
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as T
    } catch (err) {
      last = err
    }
  } while (Date.now() < until)
  throw new Error(`no ${what} in ${file}`, { cause: last })
}
