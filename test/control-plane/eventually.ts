import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Retries `check` until it returns without throwing, then returns its value; rethrows the last
 * failure after `timeoutMs`. The bound only keeps a broken test from hanging: tests assert *that*
 * the cluster converges, never how fast.
 */
export async function eventually<T>(
  check: () => Promise<T> | T,
  { timeoutMs = 60_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await check()
    } catch (err) {
      if (Date.now() > deadline) throw err
    }
    await sleep(intervalMs)
  }
}
