import { strict as assert } from 'node:assert'
import { audioSdp, endpointOf, Peer, rtpPacket } from '../../e2e/media/helpers.ts'
import { loopbackNgHandler } from '../../e2e/media/loopback-ng-handler.ts'
import type { MediaTimeoutNotice } from '../../lib/media/control/media-timeout.ts'
import type { NgRequest, NgResponse } from '../../lib/media/control/ng-message.ts'

/**
 * A media timeout that no `delete` follows. Signalling ends the call it names and deletes the
 * session, but it may have nothing to end: the call was hung up while its `delete` could not reach
 * the pod (MediaAnchor.onTerminate never throws, counting on the pod to clean up), or it moved to
 * another pod (re-anchoring) and the notice from the old one is ignored (media-timeouts.ts). The
 * pod deletes such a session itself a while after its notice. Real handler and relay on loopback.
 */

const ctx = { cookie: 'c', remote: { address: '127.0.0.1', port: 9 }, warnings: [] }

describe('media pod NG handler: a timed-out call nobody deletes', function () {
  this.timeout(40_000)
  const notices: MediaTimeoutNotice[] = []
  const { allocator, handler, close } = loopbackNgHandler({
    ports: 100,
    mediaTimeoutMs: 1_000,
    onTimeout: (n) => notices.push(n),
  })
  const req = (r: Record<string, unknown>) =>
    handler.handle(r as unknown as NgRequest, ctx) as Promise<NgResponse & { sdp: string }>
  const until = async (cond: () => boolean | Promise<boolean>, what: string, ms: number) => {
    const end = Date.now() + ms
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  after(async () => {
    await close()
  })

  it('is deleted by the pod after its notice, its ports back', async () => {
    const a = await Peer.open()
    const b = await Peer.open()
    try {
      await req({ command: 'offer', 'call-id': 'orphan', 'from-tag': 'a', sdp: audioSdp(a.port) })
      const r = await req({
        command: 'answer',
        'call-id': 'orphan',
        'from-tag': 'a',
        'to-tag': 'b',
        sdp: audioSdp(b.port),
      })
      await a.send(rtpPacket(1), endpointOf(r.sdp).port)
      await b.waitFor(1)
      await until(() => notices.length > 0, 'the media timeout notice', 10_000)
      assert.equal(notices[0]?.callId, 'orphan')
      // Nobody sends `delete`.
      assert.equal(handler.sessionCount, 1)
      await until(() => handler.sessionCount === 0, 'the pod to delete the session', 20_000)
      assert.equal(allocator.counts().inUse, 0)
      assert.equal(notices.length, 1)
    } finally {
      a.close()
      b.close()
    }
  })

  it('keeps a call signalling went on with after the notice: rung silent past the limit, then answered', async () => {
    // A 183 with SDP is an NG answer (early media), but the callee sends nothing while it rings: the
    // notice comes, and signalling, which ends only confirmed calls (B2bua.hangUp), leaves it. The
    // callee then answers and both parties talk: the call is alive and must keep its session.
    const a = await Peer.open()
    const b = await Peer.open()
    notices.length = 0
    try {
      const o = await req({ command: 'offer', 'call-id': 'rang', 'from-tag': 'a', sdp: audioSdp(a.port) })
      const answer = () =>
        req({ command: 'answer', 'call-id': 'rang', 'from-tag': 'a', 'to-tag': 'b', sdp: audioSdp(b.port) })
      await answer() // the 183
      await until(() => notices.some((n) => n.callId === 'rang'), 'the media timeout notice', 10_000)
      const r = await answer() // the 200
      // Both talk for longer than the pod waits for a delete after its notice (10 s at least).
      for (let seq = 1; seq <= 120; seq++) {
        await a.send(rtpPacket(seq, 0, 0xaaaa), endpointOf(r.sdp).port)
        await b.send(rtpPacket(seq, 0, 0xbbbb), endpointOf(o.sdp).port)
        await new Promise((res) => setTimeout(res, 100))
      }
      assert.equal(handler.sessionCount, 1, 'the answered call keeps its session')
      const before = b.received.length
      await a.send(rtpPacket(121, 0, 0xaaaa), endpointOf(r.sdp).port)
      await b.waitFor(before + 1)
    } finally {
      await req({ command: 'delete', 'call-id': 'rang' })
      a.close()
      b.close()
    }
  })
})

describe('media pod NG handler: a call timed out on hold that nobody deletes', function () {
  this.timeout(40_000)
  const notices: MediaTimeoutNotice[] = []
  // A media timeout of a day: the pod must not wait one more of those (nor one more hold timeout)
  // for a `delete` after it reported the held call.
  const { allocator, handler, close } = loopbackNgHandler({
    ports: 100,
    mediaTimeoutMs: 86_400_000,
    holdTimeoutMs: 1_000,
    onTimeout: (n) => notices.push(n),
  })
  const req = (r: Record<string, unknown>) =>
    handler.handle(r as unknown as NgRequest, ctx) as Promise<NgResponse & { sdp: string }>

  after(async () => {
    await close()
  })

  it('is deleted by the pod 10 s after its notice (the floor), not one more media timeout (a day) later', async () => {
    const a = await Peer.open()
    const b = await Peer.open()
    try {
      // Held from the answer on (sendonly without music, answered recvonly); nobody sends.
      const held = (port: number, dir: string) => audioSdp(port).replace('a=sendrecv', `a=${dir}`)
      await req({ command: 'offer', 'call-id': 'held', 'from-tag': 'a', sdp: held(a.port, 'sendonly') })
      await req({
        command: 'answer',
        'call-id': 'held',
        'from-tag': 'a',
        'to-tag': 'b',
        sdp: held(b.port, 'recvonly'),
      })
      const start = Date.now()
      while (notices.length === 0) {
        if (Date.now() - start > 10_000) throw new Error('no hold timeout notice within 10 s')
        await new Promise((r) => setTimeout(r, 50))
      }
      assert.deepEqual(
        notices.map((n) => [n.callId, n.hold]),
        [['held', true]],
      )
      assert.equal(handler.sessionCount, 1)
      // Nobody sends `delete`: gone 10 s after the notice (one 1-s hold timeout, at least 10 s).
      const noticed = Date.now()
      while (handler.sessionCount > 0) {
        if (Date.now() - noticed > 25_000)
          throw new Error('the held call was not deleted within 25 s of its notice')
        await new Promise((r) => setTimeout(r, 100))
      }
      assert.equal(allocator.counts().inUse, 0)
    } finally {
      a.close()
      b.close()
    }
  })
})
