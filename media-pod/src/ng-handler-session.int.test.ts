import { strict as assert } from 'node:assert'
import { loopbackNgHandler } from '../../e2e/media/loopback-ng-handler.ts'
import type { NgRequest, NgResponse } from '../../lib/media/control/ng-message.ts'

/**
 * The session table's bookkeeping of parties and media sections (kept in fields rather than arrays
 * for memory, docs/benchmarks/media.md): several sections, a fork's answer taking over the pending
 * party, another tag offering in the same call, and every port back in the pool after `delete`.
 * Real handler, real port allocator and relay (native when built, else dgram), loopback only.
 */

const sdp = (port: number, video = false) =>
  [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    ...(video ? [`m=video ${port + 2} RTP/AVP 96`, 'a=rtpmap:96 H264/90000'] : []),
    '',
  ].join('\r\n')

const ctx = { cookie: 'c', remote: { address: '127.0.0.1', port: 9 }, warnings: [] }

type Tags = Record<string, { 'in dialogue with': string; medias: { type: string }[] }>

describe('media pod NG handler: parties and media sections of a call', () => {
  const { allocator, handler, close } = loopbackNgHandler({ ports: 200, mediaTimeoutMs: 0 })
  const req = (r: Record<string, unknown>) => handler.handle(r as unknown as NgRequest, ctx)
  const tags = async (callId: string) =>
    ((await req({ command: 'query', 'call-id': callId })) as NgResponse & { tags: Tags }).tags

  after(async () => {
    await close()
  })

  it('keeps every media section of each party and frees all their ports on delete', async () => {
    const o = await req({ command: 'offer', 'call-id': 'av', 'from-tag': 'a', sdp: sdp(5000, true) })
    assert.equal(o.result, 'ok')
    const a = await req({
      command: 'answer',
      'call-id': 'av',
      'from-tag': 'a',
      'to-tag': 'b',
      sdp: sdp(6000, true),
    })
    assert.equal(a.result, 'ok')
    const t = await tags('av')
    assert.deepEqual(Object.keys(t), ['a', 'b'])
    assert.deepEqual(
      t.a?.medias.map((m) => m.type),
      ['audio', 'video'],
    )
    assert.deepEqual(
      t.b?.medias.map((m) => m.type),
      ['audio', 'video'],
    )
    // 2 parties × 2 sections × RTP + RTCP.
    assert.equal(allocator.counts().inUse, 8)
    await req({ command: 'delete', 'call-id': 'av', 'from-tag': 'a' })
    assert.equal(allocator.counts().inUse, 0)
  })

  it('takes the requests of one call in turn: concurrent offers share one session, a delete sent during an offer deletes it', async () => {
    // Two offers for a new call at once (a client that does not wait for the first reply): both
    // must end in the one session, not two whose first nobody can delete any more.
    const [o1, o2] = await Promise.all([
      req({ command: 'offer', 'call-id': 'twice', 'from-tag': 'a', sdp: sdp(5000) }),
      req({ command: 'offer', 'call-id': 'twice', 'from-tag': 'a', sdp: sdp(5000) }),
    ])
    assert.equal(o1.result, 'ok')
    assert.equal(o2.result, 'ok')
    assert.equal(/m=audio (\d+)/.exec(o1.sdp as string)?.[1], /m=audio (\d+)/.exec(o2.sdp as string)?.[1])
    await req({ command: 'delete', 'call-id': 'twice' })
    assert.equal(allocator.counts().inUse, 0)
    // A delete that arrives while the offer binds its ports: the session must not outlive it.
    const [offer, del] = await Promise.all([
      req({ command: 'offer', 'call-id': 'gone', 'from-tag': 'a', sdp: sdp(5000) }),
      req({ command: 'delete', 'call-id': 'gone' }),
    ])
    assert.equal(offer.result, 'ok')
    assert.equal(del.result, 'ok')
    assert.equal(handler.sessionCount, 0)
    assert.equal(allocator.counts().inUse, 0)
  })

  it("lets a later fork's answer take over the pending party, and another tag offer in the same call", async () => {
    await req({ command: 'offer', 'call-id': 'fork', 'from-tag': 'a', sdp: sdp(5000) })
    await req({ command: 'answer', 'call-id': 'fork', 'from-tag': 'a', 'to-tag': 'b1', sdp: sdp(6000) })
    await req({ command: 'answer', 'call-id': 'fork', 'from-tag': 'a', 'to-tag': 'b2', sdp: sdp(6100) })
    let t = await tags('fork')
    assert.deepEqual(Object.keys(t), ['a', 'b2'])
    assert.equal(t.a?.['in dialogue with'], 'b2')
    assert.equal(t.b2?.['in dialogue with'], 'a')
    // A third party offers in the same call: its own pair, next to the first.
    await req({ command: 'offer', 'call-id': 'fork', 'from-tag': 'c', 'to-tag': 'd', sdp: sdp(7000) })
    t = await tags('fork')
    assert.deepEqual(Object.keys(t), ['a', 'b2', 'c', 'd'])
    assert.equal(t.c?.['in dialogue with'], 'd')
    assert.equal(allocator.counts().inUse, 8)
    // The first pair's parties are still found by tag: a re-offer from b2 keeps its ports.
    const re = await req({
      command: 'offer',
      'call-id': 'fork',
      'from-tag': 'b2',
      'to-tag': 'a',
      sdp: sdp(6100),
    })
    assert.equal(re.result, 'ok')
    assert.equal(allocator.counts().inUse, 8)
    await req({ command: 'delete', 'call-id': 'fork' })
    assert.equal(allocator.counts().inUse, 0)
    assert.equal(handler.sessionCount, 0)
  })
})
