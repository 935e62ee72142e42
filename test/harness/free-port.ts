import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'

/**
 * Returns a loopback port that is free for both TCP and UDP at the time of the call. There is an
 * unavoidable window before the caller binds it; tests that start several servers ask for each port
 * separately rather than computing neighbours.
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
    if (udpFree) return port
  }
  throw new Error(`no free TCP+UDP port on ${host}`)
}
