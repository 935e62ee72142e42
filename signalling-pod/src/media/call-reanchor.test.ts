import assert from 'node:assert/strict'
import { nullLogger } from '../../../lib/observability/logger.ts'
import type { DialogState } from '../../../lib/sip/dialog/dialog-state.ts'
import type { SipResponse } from '../../../lib/sip/message/message.ts'
import { StateUnavailableError } from '../../../lib/state/errors.ts'
import { MemoryStore } from '../../../lib/state/memory-store.ts'
import { answered, testCall } from '../../../lib/state/test-call.ts'
import { CallReanchor, glareDelayMs, type ReanchorMedia, type ReanchorSignalling } from './call-reanchor.ts'

describe('glareDelayMs (RFC 3261 §14.1)', () => {
  it('leg B, whose Call-ID the SBC generated: 2.1 to 4 s; leg A: 0 to 2 s; in units of 10 ms', () => {
    const low = () => 0
    const high = () => 0.999999
    assert.deepEqual([glareDelayMs('b', low), glareDelayMs('b', high)], [2100, 4000])
    assert.deepEqual([glareDelayMs('a', low), glareDelayMs('a', high)], [0, 2000])
    for (let i = 0; i < 100; i++) {
      const b = glareDelayMs('b')
      assert.ok(b >= 2100 && b <= 4000 && b % 10 === 0, String(b))
      const a = glareDelayMs('a')
      assert.ok(a >= 0 && a <= 2000 && a % 10 === 0, String(a))
    }
  })
})

/**
 * The in-process store with Redis's transient failure: the first `fail[name]` calls of a method
 * reject with SBC_ERR_STATE_UNAVAILABLE, as a stalled Redis does after the store's deadline.
 */
type Stalled = 'callsOnMediaPod' | 'getCall' | 'releaseLease'

class StallingStore extends MemoryStore {
  readonly fail: Record<Stalled, number>
  constructor(fail: Record<Stalled, number>) {
    super()
    this.fail = { ...fail }
  }
  #stall(name: Stalled) {
    if (this.fail[name] <= 0) return
    this.fail[name]--
    throw new StateUnavailableError(`state store unavailable (${name}): no reply within 80 ms`)
  }
  override async callsOnMediaPod(pod: string) {
    this.#stall('callsOnMediaPod')
    return super.callsOnMediaPod(pod)
  }
  override async getCall(id: string) {
    this.#stall('getCall')
    return super.getCall(id)
  }
  override async releaseLease(name: string, owner: string) {
    this.#stall('releaseLease')
    return super.releaseLease(name, owner)
  }
}

describe('CallReanchor: a store error while a lost pod is handled', () => {
  const sdp = (port: number) =>
    Buffer.from(
      `v=0\r\no=x 1 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 8\r\n`,
    )
  const lostPod = { id: 'media-node-a', address: '127.0.0.1:1', realms: ['lan'], capacity: 10, active: 1 }

  async function run(fail: Record<Stalled, number>, storeRetries?: number) {
    const store = new StallingStore({ callsOnMediaPod: 0, getCall: 0, releaseLease: 0 })
    const call = await store.createCall(testCall('c1'))
    await store.updateCall(answered(call))
    Object.assign(store.fail, fail)
    const reinvites: string[] = []
    const signalling: ReanchorSignalling = {
      async reinviteLeg(id, leg) {
        reinvites.push(leg)
        const state = (await store.getCall(id)) as DialogState
        const response = { status: 200, body: sdp(leg === 'a' ? 4000 : 6000) } as SipResponse
        return { state, response, ack: async () => {} }
      },
      hangUp: async () => true,
    }
    const media: ReanchorMedia = {
      async moveOffer(c) {
        c.media = { ...(c.media as NonNullable<DialogState['media']>), pod: 'media-node-b' }
        return sdp(20_000)
      },
      answer: async () => sdp(20_002),
      hasPodFor: async () => true,
      answersPing: async () => false,
    }
    const reanchor = new CallReanchor({
      store,
      signalling,
      media,
      podName: 'sig-0',
      logger: nullLogger,
      storeRetryMs: 1,
      ...(storeRetries !== undefined ? { storeRetries } : {}),
    })
    const counts = await reanchor.podLost(lostPod)
    Object.assign(store.fail, { callsOnMediaPod: 0, getCall: 0, releaseLease: 0 })
    return { counts, reinvites, pod: (await store.getCall('c1'))?.media?.pod }
  }

  it('lists the calls again and handles a call again until the store answers (its claim too): the call moves', async () => {
    // The claim's release fails as well: the next round takes the same claim again.
    const r = await run({ callsOnMediaPod: 2, getCall: 1, releaseLease: 1 })
    assert.deepEqual(r.counts, { moved: 1, ended: 0, left: 0, skipped: 0 })
    assert.deepEqual(r.reinvites, ['a', 'b'], 'one re-INVITE per leg')
    assert.equal(r.pod, 'media-node-b')
  })

  it('gives up after storeRetries rounds (without them one store error stranded the call)', async () => {
    const r = await run({ callsOnMediaPod: 0, getCall: 1, releaseLease: 0 }, 0)
    assert.deepEqual(r.counts, { moved: 0, ended: 0, left: 0, skipped: 1 })
    assert.deepEqual(r.reinvites, [])
    assert.equal(r.pod, 'media-node-a')
  })
})
