import { strict as assert } from 'node:assert'
import { createSocket } from 'node:dgram'
import { mediaConfig, portBase } from '../../e2e/media/helpers.ts'
import { startLoopbackMediaPod } from '../../e2e/media/start-loopback-media-pod.ts'
import { NgClient } from '../../lib/media/control/ng-client.ts'
import { decodeNgDatagram, encodeNgDatagram, MAX_NG_REPLY } from '../../lib/media/control/ng-message.ts'
import type { MediaPod } from './media-pod.ts'

/**
 * `list` answers in one datagram whatever `limit` asks for: the call-ids that fit, in the table's
 * order. A media pod in this process (dgram relay: the test opens many ports), a real NG client.
 */

const base = portBase(300)
const config = mediaConfig([{ name: 'lan', min: base, max: base + 299, maxSessions: 100 }])

const sdp = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 4000 RTP/AVP 0',
  'a=rtcp-mux',
  '',
].join('\r\n')

describe('media pod NG list: the reply fits in one datagram', function () {
  this.timeout(30_000)
  let pod: MediaPod
  let ng: NgClient

  before(async () => {
    pod = await startLoopbackMediaPod({
      config,
      podId: 'list-test',
      workers: 0,
    })
    ng = await NgClient.connect({
      host: '127.0.0.1',
      port: pod.ngAddress.port,
      retransmitMs: 200,
      retransmissions: 2,
    })
  })
  after(async () => {
    await ng?.close()
    await pod?.close()
  })

  it('lists the call-ids that fit when limit asks for more than a datagram holds', async () => {
    // 70 calls whose call-ids (1,000 octets each, within the 1,024 a request may carry) make 70 kB.
    const ids = Array.from({ length: 70 }, (_, i) => `${String(i).padStart(3, '0')}-${'x'.repeat(996)}`)
    for (const id of ids) await ng.offer({ 'call-id': id, 'from-tag': 'a', sdp })
    const all = await ng.list(1000)
    assert.ok(all.calls.length > 60 && all.calls.length < 70, `${all.calls.length} calls listed`)
    assert.deepEqual(all.calls, ids.slice(0, all.calls.length), 'in the order of the table')
    assert.deepEqual((await ng.list()).calls, ids.slice(0, 32), 'the default limit')
    assert.deepEqual((await ng.list(5)).calls, ids.slice(0, 5))

    // The datagram itself, with a cookie of the longest kind: at most MAX_NG_REPLY octets.
    const s = createSocket('udp4')
    try {
      await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))
      const cookie = 'c'.repeat(128)
      const reply = new Promise<Buffer>((r) => s.once('message', (m) => r(m)))
      s.send(encodeNgDatagram(cookie, { command: 'list', limit: 1000 }), pod.ngAddress.port, '127.0.0.1')
      const got = await reply
      assert.ok(got.length <= MAX_NG_REPLY, `${got.length} octets`)
      const { dict } = decodeNgDatagram(got)
      assert.equal(String(dict.result), 'ok')
    } finally {
      s.close()
    }
    for (const id of ids) await ng.delete({ 'call-id': id })
  })
})
