import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import type { SbcConfig } from '../../lib/config/model.ts'
import { decodeNgDatagram } from '../../lib/media/control/ng-message.ts'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import type { MediaPod } from '../../media-pod/src/media-pod.ts'
import { MediaAnchor } from '../../signalling-pod/src/media/media-anchor.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { portBase } from '../../test/harness/port-base.ts'
import { configYaml } from '../b2bua/harness.ts'
import { type InProcessB2bua, startInProcessB2bua } from '../b2bua/in-process-b2bua.ts'
import { until } from '../b2bua/two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse } from '../b2bua/udp-peer.ts'
import { startLoopbackMediaPod } from './start-loopback-media-pod.ts'

const sdpOf = (port: number, version: number) =>
  `v=0\r\no=- 1 ${version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`

/** `msg` (as udp-peer.ts builds it, no body) with `sdp` as its body. */
const withSdp = (msg: string, sdp: string) =>
  msg.replace(
    'Content-Length: 0\r\n\r\n',
    `Content-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`,
  )

/**
 * The callee refuses a re-offer (488) while the call's media pod is down. The B2BUA sends NG
 * `withdraw offer` before it relays the refusal (RFC 3264 §8: the session stays as agreed); before,
 * it waited for the pod's reply, so with a dead pod the refusal reached the caller only after the NG
 * client's whole budget (4 sends, 7.5 s) — the caller's re-INVITE transaction sat that long. Now the
 * refusal goes out once the withdraw was sent twice, while the NG client goes on retransmitting.
 *
 * Real parts: the B2BUA in this process on a real redis-server, its media step a real MediaAnchor on
 * a real media pod (in this process) that anchors the call and the re-offer, then is closed; a bare
 * UDP socket bound on its NG port afterwards records the NG datagrams and answers none. Caller and
 * callee are bare UDP sockets. The order is read on the wire: each NG datagram notes whether the
 * refusal had reached the caller when it arrived — no clock in the assertions.
 */
describe('B2BUA: a re-offer refused while the media pod is down', function () {
  this.timeout(60_000)
  const cdrs: string[] = []
  let ngPort = 0
  let config: SbcConfig | undefined
  let b2bua: InProcessB2bua | undefined
  let pod: MediaPod | undefined
  let silent: Socket | undefined
  let anchor: MediaAnchor | undefined

  before(async () => {
    ngPort = await freePort()
    anchor = new MediaAnchor({
      // Set below, before the first call: the config the B2BUA runs, compiled the same way.
      config: () => config as SbcConfig,
      fixed: { host: '127.0.0.1', port: ngPort, id: 'media-1' },
    })
    b2bua = await startInProcessB2bua({ name: 'withdrawdown', cdrs, server: { media: anchor } })
    const { ports, peers } = b2bua
    const base = portBase(100)
    config = await b2bua.configOf(
      configYaml(ports, peers.uacPort, peers.uasPort, 'UDP').replace(
        'portRange: { min: 40000, max: 40099 }',
        `portRange: { min: ${base}, max: ${base + 99} }`,
      ),
      1,
    )
    pod = await startLoopbackMediaPod({ config, podId: 'media-1', ngPort })
  })
  after(async () => {
    await pod?.close()
    silent?.close()
    await b2bua?.close()
    await anchor?.close()
  })

  it('the 488 reaches the caller while the NG client still retransmits the withdraw, which goes on', async () => {
    const { caller, callee, uacPort, uasPort } = b2bua!.peers
    const pbx = b2bua!.ports.pbx
    const ruri = 'sip:callee@127.0.0.1'
    const callId = `${randomBytes(6).toString('hex')}@withdrawdown.test`
    const fromTag = randomBytes(4).toString('hex')
    let to = `<${ruri}>`
    let target = ruri
    const fromCaller = (method: string, cseq: number, branch = newBranch()) =>
      sipRequest({ method, ruri: target, port: uacPort, branch, fromTag, to, callId, cseq })

    // An answered call, anchored on the media pod.
    await caller.send(withSdp(fromCaller('INVITE', 1), sdpOf(4000, 1)), pbx)
    const inv = (await callee.waitFor(request('INVITE'), 'the INVITE at the callee')) as {
      msg: SipRequest
      port: number
    }
    assert.doesNotMatch(
      inv.msg.body.toString(),
      /m=audio 4000 /,
      "anchored: the pod's port, not the caller's",
    )
    const bCallId = inv.msg.callId ?? ''
    await callee.send(withSdp(sipResponse(inv.msg, 200, 'OK', 'callee1', uasPort), sdpOf(5000, 1)), inv.port)
    const ok = (await caller.waitFor(response(200, callId), '200 at the caller')).msg as SipResponse
    to = ok.header('to') ?? ''
    target = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? ruri
    await caller.send(fromCaller('ACK', 1), pbx)
    await callee.waitFor(request('ACK', bCallId), 'the ACK at the callee')

    // The caller re-offers (another port); the pod takes the offer and the callee gets it.
    const reBranch = newBranch()
    await caller.send(withSdp(fromCaller('INVITE', 2, reBranch), sdpOf(4002, 2)), pbx)
    const isReinvite = (m: SipRequest | SipResponse) => request('INVITE', bCallId)(m) && m.cseq?.seq !== 1
    const re = (await callee.waitFor(isReinvite, 'the re-INVITE at the callee')) as {
      msg: SipRequest
      port: number
    }

    // The media pod goes down; whatever is sent to its NG port now is recorded, never answered.
    await pod!.close()
    pod = undefined
    const refused = (m: SipRequest | SipResponse) => response(488, callId)(m) && m.cseq?.seq === 2
    const ng: { command: string; callId: string; fromTag: string; refusalAtCaller: boolean }[] = []
    silent = createSocket('udp4')
    silent.on('message', (buf) => {
      const { dict } = decodeNgDatagram(buf)
      ng.push({
        command: String(dict.command),
        callId: String(dict['call-id']),
        fromTag: String(dict['from-tag']),
        refusalAtCaller: caller.all(refused).length > 0,
      })
    })
    await new Promise<void>((resolve, reject) => {
      silent!.once('error', reject)
      silent!.bind(ngPort, '127.0.0.1', () => resolve())
    })

    await callee.send(sipResponse(re.msg, 488, 'Not Acceptable Here', 'callee1', uasPort), re.port)
    // On main the 488 came after the NG client's whole budget (7.5 s): waited for long enough to
    // see it there too, so the order below is what fails.
    await caller.waitFor(refused, '488 to the re-INVITE', 20_000)
    await caller.send(fromCaller('ACK', 2, reBranch), pbx)
    // The NG client's budget: the first send and 3 retransmissions (NgClient defaults).
    await until('the withdraw sent 4 times', async () => ng.length >= 4)

    assert.ok(
      ng.every((d) => d.command === 'withdraw offer' && d.fromTag === 'a'),
      `only the withdraw of the caller's offer: ${JSON.stringify(ng)}`,
    )
    assert.equal(new Set(ng.map((d) => d.callId)).size, 1, 'one call')
    assert.equal(ng[0]?.refusalAtCaller, false, 'the withdraw went out before the refusal')
    assert.ok(
      ng.some((d) => d.refusalAtCaller),
      `the refusal reached the caller while the withdraw was still retransmitted: ${JSON.stringify(ng)}`,
    )
  })
})
