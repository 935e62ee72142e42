/** The peers the native relay's tests talk to it from: loopback UDP sockets, their datagrams, their closing. */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { once } from 'node:events'

/**
 * Sockets bound on `host` (127.0.0.1 or ::1) on demand, all kept so that one `close()` (in `after`)
 * releases them. The functions are closures, so a test block can destructure them:
 * `const { udp, next, close } = testSockets()`.
 */
export function testSockets(host: '127.0.0.1' | '::1' = '127.0.0.1') {
  const sockets: Socket[] = []
  return {
    /** A socket on `host`, an ephemeral port, listening. */
    async udp(): Promise<Socket> {
      const s = createSocket(host === '::1' ? 'udp6' : 'udp4')
      sockets.push(s)
      s.bind(0, host)
      await once(s, 'listening')
      return s
    },
    /** The next datagram `s` receives and where it came from; rejects after 5 s, so a lost packet fails
     * the test with an abort instead of hanging until mocha's timeout. */
    async next(s: Socket): Promise<[Buffer, { address: string; port: number }]> {
      const [msg, rinfo] = (await once(s, 'message', { signal: AbortSignal.timeout(5000) })) as [
        Buffer,
        RemoteInfo,
      ]
      // Only address and port: tests compare the source with deepEqual.
      return [msg, { address: rinfo.address, port: rinfo.port }]
    },
    close(): void {
      for (const s of sockets) s.close()
    },
  }
}
