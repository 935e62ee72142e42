import assert from 'node:assert/strict'
import type { DialogStore } from './dialog-store.ts'
import { answered, testCall } from './test-call.ts'
import { defaultTtlPolicy, type TtlPolicy } from './ttl-policy.ts'

/** What the contract suite needs from an implementation's test file. */
export interface ContractHarness {
  /** A fresh store on an empty backend. */
  make(ttl?: TtlPolicy): Promise<DialogStore>
  /** A second store on the same backend as `store` (another pod); memory: the same instance. */
  peer(store: DialogStore): Promise<DialogStore>
  /** Lets `ms` of store time pass (memory: move the clock; Redis: wait). */
  advance(ms: number): Promise<void>
}

/** Short TTLs for the expiry cases, long enough that no other step races them. */
const shortTtl: TtlPolicy = { earlyMs: 300, maxCallMs: 60_000, terminatedMs: 300 }
/**
 * For the cases that also find a record still there part way through its TTL: on Redis the time is
 * real, and 200 ms into 300 left 100 ms for the round trips, less than a GC pause or a descheduled
 * process on a loaded machine takes; here the record is read at least 400 ms before it expires.
 */
const roomyTtl: TtlPolicy = { earlyMs: 1000, maxCallMs: 60_000, terminatedMs: 1000 }

async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: { code?: string }) => {
    assert.equal(err.code, code)
    return true
  })
}

/**
 * The behaviour every {@link DialogStore} must have. Call inside a `describe`; it defines the `it`s.
 * Run by memory-store.test.ts and redis-store.int.test.ts.
 */
export function dialogStoreContract(h: ContractHarness): void {
  let store: DialogStore
  const stores: DialogStore[] = []
  const make = async (ttl: TtlPolicy = defaultTtlPolicy) => {
    const s = await h.make(ttl)
    stores.push(s)
    return s
  }
  beforeEach(async () => {
    store = await make()
  })
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close()
  })

  describe('calls', () => {
    it('creates a call with version 1 and reads it back', async () => {
      const created = await store.createCall(testCall('c1'))
      assert.equal(created.version, 1)
      assert.deepEqual(await store.getCall('c1'), { ...testCall('c1'), version: 1 })
      assert.equal(await store.getCall('nope'), undefined)
    })

    it('refuses to create a call whose id or leg already exists', async () => {
      await store.createCall(testCall('c1'))
      await rejectsWithCode(store.createCall(testCall('c1')), 'SBC_ERR_STATE_CALL_EXISTS')
      const sameA = testCall('c2', {
        aCallId: testCall('c1').a.callId,
        aRemoteTag: testCall('c1').a.remoteTag,
      })
      await rejectsWithCode(store.createCall(sameA), 'SBC_ERR_STATE_CALL_EXISTS')
      assert.equal(await store.getCall('c2'), undefined, 'a refused create leaves nothing behind')
    })

    it('rejects invalid state and bad ids with a typed error', async () => {
      const bad = { ...testCall('c1'), a: { ...testCall('c1').a, port: 'x' } }
      await rejectsWithCode(store.createCall(bad as never), 'SBC_ERR_STATE_INVALID')
      await rejectsWithCode(store.createCall(testCall('has space')), 'SBC_ERR_STATE_INVALID')
      await rejectsWithCode(
        store.createCall({ ...testCall('c1'), version: 3 }),
        'SBC_ERR_STATE_VERSION_CONFLICT',
      )
      await rejectsWithCode(store.getCall('{x}'), 'SBC_ERR_STATE_INVALID')
      await rejectsWithCode(store.createCall(testCall('c1', { aRemoteTag: '' })), 'SBC_ERR_STATE_INVALID')
      await rejectsWithCode(store.tryAcquireCall('bad group', 'c1', 1, 1000), 'SBC_ERR_STATE_INVALID')
    })

    it('finds a call by either leg from the tags of an in-dialog message', async () => {
      const c = testCall('c1')
      await store.createCall(c)
      // A request from the caller: From tag = A's remote tag, To tag = our A tag.
      const fromA = await store.findByLeg({
        callId: c.a.callId,
        remoteTag: c.a.remoteTag,
        localTag: c.a.localTag,
      })
      assert.equal(fromA?.leg, 'a')
      assert.equal(fromA?.call.id, 'c1')
      // A response from the callee: From tag = our B tag.
      const fromB = await store.findByLeg({
        callId: c.b.callId,
        localTag: c.b.localTag,
        remoteTag: 'whatever',
      })
      assert.equal(fromB?.leg, 'b')
      // A CANCEL from the caller has no To tag.
      assert.equal((await store.findByLeg({ callId: c.a.callId, remoteTag: c.a.remoteTag }))?.leg, 'a')
      assert.equal(await store.findByLeg({ callId: c.a.callId, localTag: c.a.remoteTag }), undefined)
      assert.equal(await store.findByLeg({ callId: 'other', remoteTag: c.a.remoteTag }), undefined)
      assert.equal(await store.findByLeg({ callId: c.b.callId }), undefined)
    })

    it('keeps a spiral apart: our B leg looping back in as the A leg of a new call', async () => {
      const c1 = testCall('c1')
      const c2 = testCall('c2', { aCallId: c1.b.callId, aRemoteTag: c1.b.localTag })
      await store.createCall(c1)
      await store.createCall(c2)
      const asB = await store.findByLeg({ callId: c1.b.callId, localTag: c1.b.localTag })
      const asA = await store.findByLeg({ callId: c1.b.callId, remoteTag: c1.b.localTag })
      assert.deepEqual([asB?.call.id, asB?.leg], ['c1', 'b'])
      assert.deepEqual([asA?.call.id, asA?.leg], ['c2', 'a'])
    })

    it('updates with compare-and-set on the version', async () => {
      const v1 = await store.createCall(testCall('c1'))
      const v2 = await store.updateCall(answered(v1))
      assert.equal(v2.version, 2)
      assert.equal((await store.getCall('c1'))?.b.remoteTag, 'as5f2a1c7d')
      await rejectsWithCode(
        store.updateCall({ ...v1, cdr: { endReason: 'stale' } }),
        'SBC_ERR_STATE_VERSION_CONFLICT',
      )
      assert.equal((await store.getCall('c1'))?.version, 2, 'a stale update writes nothing')
    })

    it('lets exactly one of two concurrent updates of the same version win', async () => {
      const v1 = await store.createCall(testCall('c1'))
      const other = await h.peer(store)
      if (other !== store) stores.push(other)
      const results = await Promise.allSettled([
        store.updateCall({ ...v1, a: { ...v1.a, remoteCSeq: 102 } }),
        other.updateCall({ ...v1, a: { ...v1.a, remoteCSeq: 103 } }),
      ])
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
      const loser = results.find((r) => r.status === 'rejected')
      assert.equal(
        (loser as PromiseRejectedResult | undefined)?.reason?.code,
        'SBC_ERR_STATE_VERSION_CONFLICT',
      )
    })

    it('refuses to update a missing call or to change leg identity', async () => {
      await rejectsWithCode(
        store.updateCall({ ...testCall('c9'), version: 1 }),
        'SBC_ERR_STATE_CALL_NOT_FOUND',
      )
      const v1 = await store.createCall(testCall('c1'))
      await rejectsWithCode(
        store.updateCall({ ...v1, b: { ...v1.b, localTag: 'changed' } }),
        'SBC_ERR_STATE_INVALID',
      )
      assert.equal((await store.getCall('c1'))?.version, 1)
    })

    it('deletes a call with its leg indexes, so the legs can be reused', async () => {
      const c = testCall('c1')
      await store.createCall(c)
      assert.equal(await store.deleteCall('c1'), true)
      assert.equal(await store.getCall('c1'), undefined)
      assert.equal(await store.findByLeg({ callId: c.a.callId, remoteTag: c.a.remoteTag }), undefined)
      assert.equal(await store.findByLeg({ callId: c.b.callId, localTag: c.b.localTag }), undefined)
      assert.equal(await store.deleteCall('c1'), false)
      await store.createCall(testCall('c2', { aCallId: c.a.callId, aRemoteTag: c.a.remoteTag }))
    })

    it('deletes a call from a state the caller holds, even an older version, without its leg indexes', async () => {
      const c = testCall('c1')
      const created = await store.createCall(c)
      await store.updateCall(answered(created))
      // The version-1 copy still names the same index keys: the legs' identity never changes.
      assert.equal(await store.deleteCall('c1', created), true)
      assert.equal(await store.getCall('c1'), undefined)
      assert.equal(await store.findByLeg({ callId: c.a.callId, remoteTag: c.a.remoteTag }), undefined)
      assert.equal(await store.findByLeg({ callId: c.b.callId, localTag: c.b.localTag }), undefined)
      assert.equal(await store.deleteCall('c1', created), false)
      // An index that now points at another call is not removed by a stale delete.
      const again = await store.createCall(testCall('c2', { aCallId: c.a.callId, aRemoteTag: c.a.remoteTag }))
      assert.equal(await store.deleteCall('c1', created), false)
      assert.equal(
        (await store.findByLeg({ callId: c.a.callId, remoteTag: c.a.remoteTag }))?.call.id,
        again.id,
      )
    })

    it('ends a call by either leg for a BYE: removed with its indexes and the holds it lists, once', async () => {
      const c = testCall('c1')
      const created = await store.createCall(c)
      // Holds of c1 in both listed groups, of another call in one of them, of c1 in a group not listed.
      await store.tryAcquireCall('webex', 'c1', 5, 60_000)
      await store.tryAcquireCall('pbx', 'c1', 5, 60_000)
      await store.tryAcquireCall('webex', 'c2', 5, 60_000)
      await store.tryAcquireCall('twilio', 'c1', 5, 60_000)
      // A BYE from the caller: From tag = the caller's tag, To tag = our A tag; CSeq above 101.
      const fromA = { callId: c.a.callId, remoteTag: c.a.remoteTag, localTag: c.a.localTag }
      const ended = await store.endByLeg(fromA, 102)
      assert.deepEqual(ended, { leg: 'a', call: created, ended: true })
      assert.equal(await store.getCall('c1'), undefined)
      assert.equal(await store.findByLeg(fromA), undefined)
      assert.equal(await store.findByLeg({ callId: c.b.callId, localTag: c.b.localTag }), undefined)
      assert.deepEqual(
        [await store.activeCalls('webex'), await store.activeCalls('pbx'), await store.activeCalls('twilio')],
        [1, 0, 1],
        "only c1's holds in the groups it lists are released",
      )
      assert.equal(await store.releaseCall('webex', 'c2'), true, "c2's hold is kept")
      assert.equal(await store.endByLeg(fromA, 103), undefined, 'a second BYE finds nothing')
      assert.equal(await store.deleteCall('c1'), false)
      // The legs can be used again.
      await store.createCall(testCall('c3', { aCallId: c.a.callId, aRemoteTag: c.a.remoteTag }))

      // A BYE from the callee: From tag = B's tag, To tag = our B tag.
      const d = await store.updateCall(answered(await store.createCall(testCall('d1'))))
      const fromB = { callId: d.b.callId, localTag: d.b.localTag, remoteTag: d.b.remoteTag }
      assert.deepEqual(await store.endByLeg(fromB, 1), { leg: 'b', call: d, ended: true })
      assert.equal(await store.getCall('d1'), undefined)
      assert.equal(await store.findByLeg({ callId: d.a.callId, remoteTag: d.a.remoteTag }), undefined)
      assert.equal(await store.endByLeg({ callId: 'nope', remoteTag: 'x' }, 1), undefined)
      assert.equal(await store.endByLeg({ callId: d.b.callId }, 1), undefined)
    })

    it("does not end a call for a BYE whose CSeq is not above the leg's remoteCSeq", async () => {
      const c = testCall('c1')
      const created = await store.createCall(c)
      await store.tryAcquireCall('webex', 'c1', 5, 60_000)
      const fromA = { callId: c.a.callId, remoteTag: c.a.remoteTag, localTag: c.a.localTag }
      for (const seq of [101, 7])
        assert.deepEqual(await store.endByLeg(fromA, seq), { leg: 'a', call: created, ended: false })
      // Leg B's remoteCSeq is 0: CSeq 0 from the callee is not above it either.
      const fromB = { callId: c.b.callId, localTag: c.b.localTag, remoteTag: 'x' }
      assert.equal((await store.endByLeg(fromB, 0))?.ended, false)
      assert.deepEqual(await store.getCall('c1'), created, 'nothing changed')
      assert.equal(await store.activeCalls('webex'), 1, 'the hold is kept')
      await rejectsWithCode(store.endByLeg(fromA, -1), 'SBC_ERR_STATE_INVALID')
      await rejectsWithCode(store.endByLeg(fromA, 1.5), 'SBC_ERR_STATE_INVALID')
      assert.equal((await store.endByLeg(fromA, 102))?.ended, true)
    })

    it('an update racing a BYE does not bring the ended call back', async () => {
      const v1 = await store.createCall(testCall('c1'))
      const other = await h.peer(store)
      if (other !== store) stores.push(other)
      const fromA = { callId: v1.a.callId, remoteTag: v1.a.remoteTag }
      // Sent together: whichever runs first, the call ends and stays ended.
      const [ended, updated] = await Promise.allSettled([
        store.endByLeg(fromA, 102),
        other.updateCall(answered(v1)),
      ])
      assert.equal(ended.status === 'fulfilled' && ended.value?.ended, true)
      if (updated.status === 'rejected') assert.equal(updated.reason?.code, 'SBC_ERR_STATE_CALL_NOT_FOUND')
      await rejectsWithCode(other.updateCall(answered(v1)), 'SBC_ERR_STATE_CALL_NOT_FOUND')
      await rejectsWithCode(other.updateCall({ ...answered(v1), version: 2 }), 'SBC_ERR_STATE_CALL_NOT_FOUND')
      assert.equal(await store.getCall('c1'), undefined)
      assert.equal(await store.findByLeg(fromA), undefined)
    })

    it('restores a call ended by a challenged BYE at its next version, without taking holds', async () => {
      const c = testCall('c1')
      const v2 = await store.updateCall(answered(await store.createCall(c)))
      await store.tryAcquireCall('webex', 'c1', 5, 60_000)
      const fromA = { callId: c.a.callId, remoteTag: c.a.remoteTag, localTag: c.a.localTag }
      const ended = await store.endByLeg(fromA, 102)
      assert.equal(ended?.ended, true)
      // What the B2BUA puts back: the CSeqs of the relayed BYE, no holds listed.
      const back = {
        ...v2,
        a: { ...v2.a, remoteCSeq: 102 },
        b: { ...v2.b, localCSeq: v2.b.localCSeq + 1 },
        admission: { ...v2.admission, counters: [] },
      }
      const restored = await store.restoreCall(back)
      assert.deepEqual(restored, { ...back, version: 3 })
      assert.deepEqual(await store.getCall('c1'), restored)
      assert.equal((await store.findByLeg({ callId: c.b.callId, localTag: c.b.localTag }))?.call.id, 'c1')
      assert.equal(await store.activeCalls('webex'), 0, 'no hold taken back')
      await rejectsWithCode(store.restoreCall(back), 'SBC_ERR_STATE_CALL_EXISTS')
      await rejectsWithCode(store.updateCall(v2), 'SBC_ERR_STATE_VERSION_CONFLICT')
      // The BYE sent again with credentials (CSeq 103) ends it; one with the old CSeq does not.
      assert.equal((await store.endByLeg(fromA, 102))?.ended, false)
      assert.deepEqual(await store.endByLeg(fromA, 103), { leg: 'a', call: restored, ended: true })
      assert.equal(await store.getCall('c1'), undefined)
      // A leg taken meanwhile by another call refuses the restore, and leaves that call alone.
      const taken = await store.createCall(testCall('c2', { aCallId: c.a.callId, aRemoteTag: c.a.remoteTag }))
      await rejectsWithCode(store.restoreCall(back), 'SBC_ERR_STATE_CALL_EXISTS')
      assert.equal(await store.getCall('c1'), undefined)
      assert.deepEqual(await store.getCall('c2'), taken)
    })

    it('keeps a restored call only for the terminated TTL: a BYE never sent again leaves nothing for long', async () => {
      const s = await make(roomyTtl)
      const c = testCall('c1')
      const v2 = await s.updateCall(answered(await s.createCall(c)))
      const fromA = { callId: c.a.callId, remoteTag: c.a.remoteTag }
      assert.equal((await s.endByLeg(fromA, 102))?.ended, true)
      await s.restoreCall(v2)
      await h.advance(500)
      assert.equal((await s.findByLeg(fromA))?.call.id, 'c1', 'there for the BYE with credentials')
      await h.advance(600)
      // An answered call's own TTL (maxCallMs, or its Session-Expires) is far longer.
      assert.equal(await s.getCall('c1'), undefined)
      assert.equal(await s.findByLeg(fromA), undefined)
      assert.equal(await s.findByLeg({ callId: c.b.callId, localTag: c.b.localTag }), undefined)
    })

    it('a CANCEL recorded before the call is stored makes createCall of that INVITE refuse, once', async () => {
      const c = testCall('c1')
      const leg = { callId: c.a.callId, remoteTag: c.a.remoteTag }
      const invite = { branch: 'z9hG4bKcaller1', cseq: 101 }
      assert.equal(await store.cancelUnstored(leg, invite, 30_000), undefined, 'nothing stored yet')
      await rejectsWithCode(store.createCall(c, invite), 'SBC_ERR_STATE_CALL_CANCELLED')
      assert.equal(await store.getCall('c1'), undefined, 'a cancelled create stores nothing')
      assert.equal(await store.findByLeg(leg), undefined)
      // The record was consumed: the same leg can be created again.
      const created = await store.createCall(c, invite)
      assert.equal(created.version, 1)
    })

    it('a recorded CANCEL names one INVITE: another branch or CSeq, or no INVITE given, creates', async () => {
      const leg = (c: ReturnType<typeof testCall>) => ({ callId: c.a.callId, remoteTag: c.a.remoteTag })
      const c1 = testCall('c1')
      await store.cancelUnstored(leg(c1), { branch: 'z9hG4bKone', cseq: 1 }, 30_000)
      await store.createCall(c1, { branch: 'z9hG4bKother', cseq: 1 })
      const c2 = testCall('c2', { aCallId: 'a-call-2' })
      await store.cancelUnstored(leg(c2), { branch: 'z9hG4bKone', cseq: 1 }, 30_000)
      await store.createCall(c2, { branch: 'z9hG4bKone', cseq: 2 })
      const c3 = testCall('c3', { aCallId: 'a-call-3' })
      await store.cancelUnstored(leg(c3), { branch: 'z9hG4bKone', cseq: 1 }, 30_000)
      await store.createCall(c3)
      assert.deepEqual(
        [await store.getCall('c1'), await store.getCall('c2'), await store.getCall('c3')].map((x) => x?.id),
        ['c1', 'c2', 'c3'],
      )
    })

    it('cancelUnstored returns the call when leg A is stored, and records nothing', async () => {
      const c = testCall('c1')
      const invite = { branch: 'z9hG4bKcaller1', cseq: 101 }
      await store.createCall(c, invite)
      const found = await store.cancelUnstored(
        { callId: c.a.callId, remoteTag: c.a.remoteTag },
        invite,
        30_000,
      )
      assert.equal(found?.id, 'c1')
      assert.equal(found?.version, 1)
      // Deleted and created again with the same INVITE: no record was left to refuse it.
      await store.deleteCall('c1')
      await store.createCall(c, invite)
    })

    it('forgetUnstored deletes the recorded CANCEL of that INVITE only, or returns the stored call', async () => {
      const c = testCall('c1')
      const leg = { callId: c.a.callId, remoteTag: c.a.remoteTag }
      const invite = { branch: 'z9hG4bKcaller1', cseq: 101 }
      await store.cancelUnstored(leg, invite, 30_000)
      // Another INVITE of the same leg leaves the mark: the create of this one still refuses.
      assert.equal(await store.forgetUnstored(leg, { ...invite, branch: 'z9hG4bKother' }), undefined)
      assert.equal(await store.forgetUnstored(leg, { ...invite, cseq: 102 }), undefined)
      await rejectsWithCode(store.createCall(c, invite), 'SBC_ERR_STATE_CALL_CANCELLED')
      await store.cancelUnstored(leg, invite, 30_000)
      assert.equal(await store.forgetUnstored(leg, invite), undefined)
      // Nothing left to refuse the create of the same INVITE.
      assert.equal((await store.createCall(c, invite)).version, 1)
      const found = await store.forgetUnstored(leg, invite)
      assert.equal(found?.id, 'c1')
      assert.equal(found?.version, 1)
    })

    it('forgets a recorded CANCEL after its TTL', async () => {
      const c = testCall('c1')
      const invite = { branch: 'z9hG4bKcaller1', cseq: 101 }
      await store.cancelUnstored({ callId: c.a.callId, remoteTag: c.a.remoteTag }, invite, 200)
      await h.advance(400)
      assert.equal((await store.createCall(c, invite)).version, 1)
    })

    it('expires early and terminated calls after their TTL; refresh and confirmation extend it', async () => {
      const s = await make(roomyTtl)
      const c = testCall('early1')
      await s.createCall(c)
      const t = await s.createCall(testCall('term1'))
      await s.updateCall({ ...t, state: 'terminated' })
      const conf = await s.createCall(testCall('conf1'))
      await s.updateCall(answered(conf))
      await s.createCall(testCall('refr1'))
      await h.advance(500)
      assert.equal(await s.refreshCall('refr1'), true)
      await h.advance(600)
      assert.equal(await s.getCall('early1'), undefined, 'early call outlived earlyMs')
      assert.equal(await s.findByLeg({ callId: c.a.callId, remoteTag: c.a.remoteTag }), undefined)
      assert.equal(await s.getCall('term1'), undefined, 'terminated call outlived terminatedMs')
      assert.equal((await s.getCall('conf1'))?.state, 'confirmed')
      assert.equal((await s.getCall('refr1'))?.id, 'refr1', 'refresh restarted the TTL')
      assert.equal(await s.refreshCall('early1'), false)
    })
  })

  describe('admission counters', () => {
    it('grants up to the limit, is idempotent per call, and frees a slot on release', async () => {
      assert.deepEqual(await store.tryAcquireCall('webex', 'c1', 2, 60_000), { granted: true, active: 1 })
      assert.deepEqual(await store.tryAcquireCall('webex', 'c2', 2, 60_000), { granted: true, active: 2 })
      assert.deepEqual(await store.tryAcquireCall('webex', 'c3', 2, 60_000), { granted: false, active: 2 })
      assert.deepEqual(await store.tryAcquireCall('webex', 'c1', 2, 60_000), { granted: true, active: 2 })
      assert.equal(await store.tryAcquireCall('pbx', 'c3', 2, 60_000).then((r) => r.granted), true)
      assert.equal(await store.releaseCall('webex', 'c1'), true)
      assert.equal(await store.releaseCall('webex', 'c1'), false)
      assert.equal(await store.activeCalls('webex'), 1)
      assert.deepEqual(await store.tryAcquireCall('webex', 'c3', 2, 60_000), { granted: true, active: 2 })
    })

    it("keeps a call's admission holds as long as the call: its TTL when stored, then each write's", async () => {
      const s = await make(shortTtl)
      // The B2BUA acquires for the maximum call duration, before the call is stored.
      await s.tryAcquireCall('webex', 'h1', 5, 3_600_000)
      await s.createCall(testCall('h1'))
      await h.advance(400)
      assert.equal(await s.getCall('h1'), undefined, 'the early call expired (its pod died while it rang)')
      assert.equal(await s.activeCalls('webex'), 0, 'and its slot with it, not hours later')
      // A hold shorter than the call: answered calls (and in-dialog writes) carry it on.
      await s.tryAcquireCall('webex', 'h2', 5, 300)
      await s.tryAcquireCall('pbx', 'h2', 5, 300)
      await s.updateCall(answered(await s.createCall(testCall('h2'))))
      await h.advance(400)
      assert.equal(await s.activeCalls('webex'), 1, 'the answered call keeps its slot')
      // A hold released (or expired) is not taken back by a write.
      await s.releaseCall('pbx', 'h2')
      const c = await s.getCall('h2')
      await s.updateCall(c!)
      assert.equal(await s.activeCalls('pbx'), 0)
    })

    it('frees the slots of a holder that stopped refreshing', async () => {
      await store.tryAcquireCall('webex', 'c1', 1, 300)
      assert.equal((await store.tryAcquireCall('webex', 'c2', 1, 300)).granted, false)
      await h.advance(400)
      assert.equal(await store.activeCalls('webex'), 0)
      assert.equal((await store.tryAcquireCall('webex', 'c2', 1, 300)).granted, true)
    })

    it('limits the call rate with a token bucket', async () => {
      const r = [] as boolean[]
      for (let i = 0; i < 4; i++) r.push((await store.tryRate('webex', 1, 3)).allowed)
      assert.deepEqual(r, [true, true, true, false])
      const denied = await store.tryRate('webex', 1, 3)
      assert.ok(denied.retryAfterMs > 0 && denied.retryAfterMs <= 1000, `retryAfterMs ${denied.retryAfterMs}`)
      assert.equal((await store.tryRate('pbx', 1, 3)).allowed, true, 'buckets are per group')
      await h.advance(1100)
      assert.equal((await store.tryRate('webex', 1, 3)).allowed, true)
    })
  })

  describe('media-pod registry', () => {
    const pod = (id: string, realms: string[], capacity: number, active: number) => ({
      id,
      address: `10.0.0.${id.length}:2223`,
      realms,
      capacity,
      active,
    })

    it('lists live pods and picks the one with most free capacity in the realm', async () => {
      await store.registerMediaPod(pod('m2', ['wan', 'lan'], 100, 10), 60_000)
      await store.registerMediaPod(pod('m1', ['wan'], 100, 50), 60_000)
      await store.registerMediaPod(pod('m3', ['lan'], 10, 10), 60_000)
      assert.deepEqual(
        (await store.listMediaPods()).map((p) => p.id),
        ['m1', 'm2', 'm3'],
      )
      assert.equal((await store.pickMediaPod('wan'))?.id, 'm2')
      await store.registerMediaPod(pod('m2', ['wan', 'lan'], 100, 99), 60_000)
      assert.equal((await store.pickMediaPod('wan'))?.id, 'm1', 'heartbeat updated the load')
      assert.equal((await store.pickMediaPod('lan'))?.id, 'm2', 'a full pod is never picked')
      assert.equal(await store.pickMediaPod('dmz'), undefined)
      await store.unregisterMediaPod('m1')
      assert.deepEqual(
        (await store.listMediaPods()).map((p) => p.id),
        ['m2', 'm3'],
      )
    })

    it('lists the calls anchored on a media pod', async () => {
      const on = (id: string, pod?: string) => {
        const s = answered(testCall(id))
        if (pod) s.media = { pod, ngCallId: id, fromTag: 'a' }
        else delete s.media
        return s
      }
      await store.createCall(on('r1', 'm-dead'))
      await store.createCall(on('r2', 'm-live'))
      await store.createCall(on('r3', 'm-dead'))
      await store.createCall(on('r4'))
      assert.deepEqual((await store.callsOnMediaPod('m-dead')).sort(), ['r1', 'r3'])
      assert.deepEqual(await store.callsOnMediaPod('m-live'), ['r2'])
      assert.deepEqual(await store.callsOnMediaPod('m-other'), [])
      await store.deleteCall('r1')
      assert.deepEqual(await store.callsOnMediaPod('m-dead'), ['r3'])
    })

    it('forgets a pod that stopped heartbeating', async () => {
      await store.registerMediaPod(pod('dead', ['wan'], 100, 0), 300)
      await store.registerMediaPod(pod('alive', ['wan'], 100, 50), 60_000)
      await h.advance(400)
      assert.deepEqual(
        (await store.listMediaPods()).map((p) => p.id),
        ['alive'],
      )
    })
  })

  describe('leases', () => {
    it('has one owner at a time; only the owner renews or releases', async () => {
      const first = await store.acquireLease('reg:webex', 'pod-a', 60_000)
      assert.equal(first.acquired, true)
      const second = await store.acquireLease('reg:webex', 'pod-b', 60_000)
      assert.deepEqual([second.acquired, second.lease.owner], [false, 'pod-a'])
      assert.equal(await store.renewLease('reg:webex', 'pod-b', 60_000), false)
      assert.equal(await store.releaseLease('reg:webex', 'pod-b'), false)
      assert.equal(await store.renewLease('reg:webex', 'pod-a', 60_000), true)
      assert.equal(
        (await store.acquireLease('reg:webex', 'pod-a', 60_000)).acquired,
        true,
        're-acquire renews',
      )
      assert.equal((await store.getLease('reg:webex'))?.owner, 'pod-a')
      assert.equal(await store.releaseLease('reg:webex', 'pod-a'), true)
      assert.equal(await store.getLease('reg:webex'), undefined)
      assert.equal((await store.acquireLease('reg:webex', 'pod-b', 60_000)).acquired, true)
    })

    it('lets another owner take an expired lease', async () => {
      await store.acquireLease('reg:pbx', 'pod-a', 300)
      await h.advance(400)
      assert.equal(await store.getLease('reg:pbx'), undefined)
      assert.equal(await store.renewLease('reg:pbx', 'pod-a', 300), false)
      assert.equal((await store.acquireLease('reg:pbx', 'pod-b', 60_000)).lease.owner, 'pod-b')
    })
  })

  describe('proxy health', () => {
    it('records up/down per address and forgets stale verdicts', async () => {
      await store.setProxyHealth('10.1.1.1:5060', true, 60_000)
      await store.setProxyHealth('10.1.1.2:5060', false, 300)
      await store.setProxyHealth('10.1.1.1:5060', false, 60_000)
      assert.deepEqual(
        (await store.listProxyHealth()).map((p) => [p.address, p.up]),
        [
          ['10.1.1.1:5060', false],
          ['10.1.1.2:5060', false],
        ],
      )
      await h.advance(400)
      assert.deepEqual(
        (await store.listProxyHealth()).map((p) => p.address),
        ['10.1.1.1:5060'],
      )
    })
  })

  it('reports ready once it has reached its backend', async () => {
    await store.ping()
    assert.equal(store.health(), 'ready')
  })
}
