import { readFileSync } from 'node:fs'

/** Whether some socket is bound to UDP `port` on IPv4 (a server is up once its port is). */
export function udpPortBound(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0')
  const local = new RegExp(`^\\s*\\d+:\\s+[0-9A-F]+:${hex}\\s`, 'm')
  return local.test(readFileSync('/proc/net/udp', 'utf8'))
}

/** Polls `check` every 100 ms; after `ms` throws, with the server's `output` when given. */
export async function waitFor(
  check: () => boolean,
  what: string,
  ms = 10_000,
  output?: () => string,
): Promise<void> {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${output ? `:\n${output()}` : ''}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
