import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'

/**
 * Ports this process has handed out. The kernel may give a port just closed here to the next
 * `listen(0)`, so two calls in a row could return the same port before the caller binds the first
 * (seen in CI: an SBC's SIP and HTTP ports, one EADDRINUSE); a port is handed out once per process.
 */
const handedOut = new Set<number>()

/**
 * Returns a loopback port that is free for both TCP and UDP at the time of the call, and not returned
 * before by this process. There is an unavoidable window before the caller binds it; tests that
 * start several servers ask for each port separately rather than computing neighbours.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer()
      srv.once('error', reject)
      srv.listen(0, host, () => {
        const addr = srv.address()
        srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0))
      })
    })
    const udpFree = await new Promise<boolean>((resolve) => {
      const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4')
      sock.once('error', () => resolve(false))
      sock.bind(port, host, () => sock.close(() => resolve(true)))
    })
    if (udpFree && !handedOut.has(port)) {
      handedOut.add(port)
      return port
    }
  }
  throw new Error(`no free TCP+UDP port on ${host}`)
}
