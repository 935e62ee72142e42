import { strict as assert } from 'node:assert'
import { audioSdp } from '../../e2e/media/helpers.ts'
import { loopbackNgHandler } from '../../e2e/media/loopback-ng-handler.ts'
import type { NgRequest } from '../../lib/media/control/ng-message.ts'

/**
 * A call that was offered but never answered nor deleted holds its ports for good unless the pod
 * drops it: signalling that died while the call rang, or an offer whose NG reply never reached
 * signalling (the pod stalled past the client's retransmissions: the B2BUA answered 503 and, with
 * no media session recorded, sent no `delete`) — and the media timeout only watches answered calls.
 * The handler deletes such a call once `offerTimeoutMs` passed since its last signal. Real handler,
 * allocator and relay on loopback; the handler's wall clock is moved forward instead of waiting.
 */

const ctx = { cookie: 'c', remote: { address: '127.0.0.1', port: 9 }, warnings: [] }

describe('media pod NG handler: calls never answered nor deleted', function () {
  this.timeout(20_000)
  let clock = Date.now()
  const { allocator, handler, close } = loopbackNgHandler({
    ports: 100,
    mediaTimeoutMs: 0,
    offerTimeoutMs: 600_000,
    now: () => clock,
  })
  const req = (r: Record<string, unknown>) => handler.handle(r as unknown as NgRequest, ctx)
  const calls = async () => (await req({ command: 'list' })).calls as string[]
  /** The handler's 1-s tick has run (at most ~1 s of real time, bounded). */
  const ticks = async (until: () => Promise<boolean>) => {
    const end = Date.now() + 5_000
    while (!(await until()) && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
  }

  after(async () => {
    await close()
  })

  it('deletes a call offered and then forgotten, its ports back; answered calls and recent offers stay', async () => {
    await req({ command: 'offer', 'call-id': 'forgotten', 'from-tag': 'a', sdp: audioSdp(4000) })
    await req({ command: 'offer', 'call-id': 'answered', 'from-tag': 'a', sdp: audioSdp(4100) })
    await req({
      command: 'answer',
      'call-id': 'answered',
      'from-tag': 'a',
      'to-tag': 'b',
      sdp: audioSdp(4200),
    })
    assert.equal(allocator.counts().inUse, 8)
    clock += 599_000
    // A re-offer is a signal: this call's clock starts again.
    await req({ command: 'offer', 'call-id': 'ringing', 'from-tag': 'a', sdp: audioSdp(4300) })
    clock += 2_000
    await ticks(async () => !(await calls()).includes('forgotten'))
    assert.deepEqual((await calls()).sort(), ['answered', 'ringing'])
    assert.equal(allocator.counts().inUse, 8, 'the forgotten call’s four ports are back')
    clock += 600_000
    await ticks(async () => !(await calls()).includes('ringing'))
    assert.deepEqual(await calls(), ['answered'])
    assert.equal(allocator.counts().inUse, 4)
    await req({ command: 'delete', 'call-id': 'answered' })
    assert.equal(allocator.counts().inUse, 0)
  })
})
