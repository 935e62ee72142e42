import { StateUnavailableError } from './errors.ts'

/**
 * Settles like `reply`, or rejects with `StateUnavailableError` when `reply` has not settled `ms`
 * after the call. The store's command timeout (issue 4: a new INVITE refused within 100 ms when
 * Redis is down or stalled, never a hang); every command on the store's connection goes through it,
 * and admission bounds its store calls with it.
 *
 * Why not ioredis's `commandTimeout`: it is a bare timer, and Node runs expired timers before it
 * reads sockets in the same loop turn. After an event-loop stall longer than `ms` (GC, a burst of
 * work) it rejects a command whose reply already sits in the socket: a false 503. Here the timer
 * only schedules the verdict with `setImmediate`, which runs after that turn's socket reads (and the
 * microtasks that resolve the ioredis promise); a reply read there wins. When Redis is really gone
 * nothing is read, and the verdict costs no more than the rest of that turn.
 */
export function withDeadline<T>(reply: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (settled) return
        settled = true
        reject(new StateUnavailableError(`state store unavailable (${what}): no reply within ${ms} ms`))
      })
    }, ms)
    // A reply after the verdict is dropped; its rejection is handled here, never unhandled.
    reply.then(
      (v) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(v)
      },
      (err: unknown) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        reject(err)
      },
    )
  })
}
