import { strict as assert } from 'node:assert'
import { NgRemoteError } from '../../lib/media/control/errors.ts'
import { buildMediaAddon } from '../../media-pod/native/build.ts'
import { buildEpollShim } from '../../media-pod/native/test-epoll-shim.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { audioSdp, type MediaProcess, mediaConfig, metric, portBase, startMedia } from './helpers.ts'
import { eventually, type MediaSbc, mediaPortBase, startMediaSbc } from './sbc-run.ts'
import { SipUa } from './sip-ua.ts'

/**
 * A node that cannot take another relay socket — the kernel refuses to watch it (epoll_ctl ADD:
 * ENOSPC past fs.epoll.max_user_watches, or ENOMEM) — is out of capacity, like a realm out of ports:
 * an NG client that `supports` it gets rtpengine's `load limit` (Kamailio's rtpengine module then
 * tries another rtpengine), others an error whose reason says "load limit", which our signalling
 * answers 503 with Retry-After (another media pod, or later), not 488 (the SDP was fine). Before, the
 * reason said only "cannot bind …: epoll_ctl() failed". The refusal is the one stand-in here (an
 * LD_PRELOAD epoll_ctl refusing sockets bound in the realm's range: test-epoll-shim.ts; the real limit
 * is per user and would starve every process of it); the media pod, signalling, NG client and SIP
 * peer are real, on loopback.
 */
describe('media relay out of capacity (the kernel will not watch another socket)', function () {
  this.timeout(90_000)
  let shim: ReturnType<typeof buildEpollShim>
  before(() => {
    buildMediaAddon()
    shim = buildEpollShim()
  })
  after(() => shim?.remove())

  describe('kube-sbc media', () => {
    const base = portBase(20)
    let media: MediaProcess
    before(async () => {
      media = await startMedia(mediaConfig([{ name: 'lan', min: base, max: base + 19 }]), [], {
        LD_PRELOAD: shim.path,
        KSBC_TEST_EPOLL_REFUSE_PORTS: `${base}-${base + 19}`,
      })
    })
    after(async () => {
      await media?.stop()
    })

    it('answers `load limit` to a client that supports it, and a "load limit" error to one that does not; nothing kept', async () => {
      const offer = { command: 'offer', 'call-id': 'full-1', 'from-tag': 'a', sdp: audioSdp(30_000) } as const
      const limited = await media.ng.request({ ...offer, supports: ['load limit'] })
      assert.equal(limited.result, 'load limit')
      assert.match(String(limited.message), /epoll_ctl\(\) failed: No space left on device/)
      let error: unknown
      try {
        await media.ng.offer({ 'call-id': 'full-2', 'from-tag': 'a', sdp: audioSdp(30_000) })
      } catch (e) {
        error = e
      }
      assert.ok(error instanceof NgRemoteError, `got ${String(error)}`)
      assert.match(
        error.reason,
        /^load limit: the relay cannot take another socket on 127\.0\.0\.1: epoll_ctl\(\) failed: No space left on device \(fs\.epoll\.max_user_watches\)$/,
      )
      // Still serving, and what the refused offers took is back.
      assert.equal((await media.ng.request({ command: 'ping' })).result, 'pong')
      assert.deepEqual((await media.ng.list()).calls, [])
      assert.equal(await metric(media.httpPort, 'sbc_media_sessions'), 0)
      assert.equal(await metric(media.httpPort, 'sbc_media_ports_in_use'), 0)
      assert.equal(media.proc.child.exitCode, null, 'the media pod is running')
    })
  })

  describe('kube-sbc run: a call the relay cannot take', () => {
    let sbc: MediaSbc
    let pbx: SipUa
    let carrier: SipUa
    before(async () => {
      const base = await mediaPortBase(200)
      pbx = await SipUa.open(await freePort())
      carrier = await SipUa.open(await freePort())
      sbc = await startMediaSbc({
        pbxPeerPort: pbx.port,
        carrierPeerPort: carrier.port,
        pbxRange: { min: base, max: base + 99 },
        carrierRange: { min: base + 100, max: base + 199 },
        carrierSrtp: 'Off',
        env: { LD_PRELOAD: shim.path, KSBC_TEST_EPOLL_REFUSE_PORTS: `${base}-${base + 199}` },
      })
    })
    after(async () => {
      pbx?.close()
      carrier?.close()
      await sbc?.close()
    })

    it('gets 503 with Retry-After (capacity), not 488, after one offer; no B leg; no port kept', async () => {
      const { final } = await pbx.invite(sbc.pbx, audioSdp(40_000, { codecs: '8' }))
      assert.equal(final.status, 503)
      assert.equal(final.header('retry-after'), '5')
      assert.match(final.header('warning') ?? '', /SBC_ERR_MEDIA_UNAVAILABLE/)
      assert.equal(carrier.received.filter(carrier.request('INVITE')).length, 0)
      // Offered once: a reason saying "bind" (as "cannot bind …: epoll_ctl() failed" did) is what
      // signalling's busy-port retry offers again, twice more, to the same refused relay.
      assert.equal(
        await metric(sbc.http, 'sbc_media_ng_requests_total'),
        1,
        'one offer reached the media pod',
      )
      const capacity = await metric(sbc.http, 'sbc_media_ports_capacity')
      await eventually(
        async () => (await metric(sbc.http, 'sbc_media_ports_free')) === capacity,
        'all media ports free',
        15_000,
      )
    })
  })
})
