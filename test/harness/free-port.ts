import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'
import { nextPort } from './port-base.ts'

/**
 * Ports this process has handed out: once the sequence wraps round, a port handed out before may be
 * free again before its caller binds it (seen in CI with listen(0): an SBC's SIP and HTTP ports, one
 * EADDRINUSE); a port is handed out once per process.
 */
const handedOut = new Set<number>()

/** True when `port` could be bound on `host` for TCP and for UDP just now. */
async function bindable(port: number, host: string): Promise<boolean> {
  const tcp = await new Promise<boolean>((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, host, () => srv.close(() => resolve(true)))
  })
  if (!tcp) return false
  return new Promise<boolean>((resolve) => {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4')
    sock.once('error', () => resolve(false))
    sock.bind(port, host, () => sock.close(() => resolve(true)))
  })
}

/**
 * Returns a loopback port that is free for both TCP and UDP at the time of the call, and not returned
 * before by this process. There is an unavoidable window before the caller binds it (an SBC binds its
 * ports a second or so later), so the port is outside the kernel's ephemeral range (portBase.ts):
 * a port from `listen(0)` was one any socket of the machine bound to port 0 or connecting could be
 * given in that window (a DNS lookup's, a SIPp's, another test run's; seen: an SBC's SIP port taken
 * before it bound it, EADDRINUSE). Tests that start several servers ask for each port separately
 * rather than computing neighbours.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = nextPort()
    if (handedOut.has(port)) continue
    if (await bindable(port, host)) {
      handedOut.add(port)
      return port
    }
  }
  throw new Error(`no free TCP+UDP port on ${host}`)
}
