import { strict as assert } from 'node:assert'
import { rtpPacket } from '../../../e2e/media/helpers.ts'
import { portBase } from '../../../test/harness/port-base.ts'
import { buildAndLoadMediaAddon } from '../../native/build.ts'
import { testSockets } from '../../native/test-sockets.ts'
import { DgramRelayBackend } from './dgram-relay.ts'
import { NativeRelayBackend } from './native-backend.ts'
import {
  type EndpointConfig,
  type EndpointSpec,
  IDLE_CONFIG,
  type RelayBackend,
  type RelayEndpoint,
} from './relay.ts'
import { StreamPair } from './stream-pair.ts'

/*
 * A pair that moves between backends (the native worker and the TypeScript fallback) when the
 * configuration asks for it, and the preferred backend refuses the ports on the way back: the pair goes
 * on on the fallback, relaying; when the fallback fails too, the pair is closed and reads as silent,
 * instead of keeping closed endpoints that the media timeout's tick read. The refusal itself (a socket
 * the kernel will not watch) is provoked end to end in media-pod/native/relay-epoll-refused.int.test.ts;
 * here `refusing` stands in for it around the real backends, the one seam a test in this process
 * cannot reach. Real sockets on loopback otherwise.
 */

/** `backend`, whose open() throws while `refuse` is set. */
function refusing(backend: RelayBackend): RelayBackend & { refuse: boolean } {
  return {
    refuse: false,
    name: backend.name,
    async open(spec: EndpointSpec): Promise<RelayEndpoint> {
      if (this.refuse) throw new Error('epoll_ctl() failed: No space left on device')
      return backend.open(spec)
    },
    pair: (a, b) => backend.pair(a, b),
    supports: (a, b) => backend.supports(a, b),
    close: () => backend.close(),
  }
}

describe('StreamPair: a backend that refuses the ports when the pair moves', function () {
  this.timeout(20_000)
  const { udp, next, close } = testSockets()
  let native: NativeRelayBackend
  let dgram: DgramRelayBackend
  before(() => {
    const n = NativeRelayBackend.create(1, buildAndLoadMediaAddon())
    if (!n) throw new Error('the native relay did not start')
    native = n
    dgram = new DgramRelayBackend()
  })
  after(async () => {
    close()
    await native?.close()
    await dgram?.close()
  })

  const specs = (): [EndpointSpec, EndpointSpec] => {
    const base = portBase(4)
    return [
      { bindAddress: '127.0.0.1', rtpPort: base, rtcpPort: undefined },
      { bindAddress: '127.0.0.1', rtpPort: base + 2, rtcpPort: undefined },
    ]
  }
  const toward = (port: number, strict = false): EndpointConfig => ({
    ...IDLE_CONFIG,
    rtpPeer: { address: '127.0.0.1', port },
    latch: 'off',
    strict,
  })

  it('goes on relaying on the fallback when the preferred backend refuses the ports', async () => {
    const preferred = refusing(native)
    const [a, b] = [await udp(), await udp()]
    const s = specs()
    const pair = await StreamPair.open(preferred, dgram, s)
    try {
      assert.equal(pair.backendName, 'native')
      // `strict source` only the fallback does: the pair moves there.
      await pair.program(toward(a.address().port, true), toward(b.address().port, true))
      assert.equal(pair.backendName, 'dgram')
      // Back to what the native worker does; it refuses the ports now.
      preferred.refuse = true
      await pair.program(toward(a.address().port), toward(b.address().port))
      assert.equal(pair.backendName, 'dgram', 'the call stays on the fallback')
      a.send(rtpPacket(1), s[0].rtpPort, '127.0.0.1')
      assert.equal((await next(b))[0].readUInt16BE(2), 1, "A's RTP reaches B")
      assert.equal(pair.stats(0).packetsIn, 1)
      assert.ok(pair.idleMs(0) >= 0)
    } finally {
      pair.close()
    }
  })

  it('is closed and reads as silent when the fallback refuses too; the ports are free again', async () => {
    const preferred = refusing(native)
    const fallback = refusing(dgram)
    const [a, b] = [await udp(), await udp()]
    const s = specs()
    const pair = await StreamPair.open(preferred, fallback, s)
    await pair.program(toward(a.address().port), toward(b.address().port))
    fallback.refuse = true
    await assert.rejects(
      pair.program(toward(a.address().port, true), toward(b.address().port, true)),
      /epoll_ctl\(\) failed/,
    )
    // The media timeout's tick reads these every second: before, the closed native legs (no such leg).
    assert.equal(pair.idleMs(0), -1)
    assert.equal(pair.stats(1).packetsIn, 0)
    pair.tick()
    pair.close()
    // Nothing holds the ports: a new pair binds them.
    const again = await StreamPair.open(native, dgram, s)
    again.close()
  })
})
