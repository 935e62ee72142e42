import { strict as assert } from 'node:assert'
import type { SbcConfig } from '../../lib/config/model.ts'
import { PortAllocator } from '../../lib/media/relay/port-allocator.ts'
import { planRealms, SuccessorPortAllocator } from './config-realms.ts'
import type { RealmRuntime } from './ng-handler.ts'

const config = (generation: number, realms: [string, number, number, number?][]): SbcConfig =>
  ({
    generation,
    realms: realms.map(([name, min, max, maxSessions]) => ({
      name,
      network: 'LAN',
      bindAddress: '127.0.0.1',
      portRange: { min, max },
      advertisedAddress: null,
      maxSessions: maxSessions ?? 100,
    })),
  }) as unknown as SbcConfig
const o = { nodeAddress: '10.0.0.1', quarantineMs: 0 }

describe('planRealms / SuccessorPortAllocator', () => {
  it('keeps unchanged realms, opens allocators for new and moved ones, reports removed ones', () => {
    const g1 = planRealms(
      config(1, [
        ['a', 1000, 1099],
        ['b', 2000, 2099],
        ['c', 3000, 3099],
      ]),
      new Map(),
      o,
    )
    assert.deepEqual(g1.added, ['a', 'b', 'c'])
    assert.equal(g1.defaultRealm, 'a')
    const g2 = planRealms(
      config(2, [
        ['a', 1000, 1099],
        ['b', 2100, 2199],
        ['d', 4000, 4099, 5],
      ]),
      g1.realms,
      o,
    )
    assert.deepEqual(g2.kept, ['a'])
    assert.equal(g2.realms.get('a'), g1.realms.get('a'))
    assert.deepEqual(g2.changed, [{ name: 'b', ports: true }])
    assert.deepEqual(g2.realms.get('b')?.allocator.range, { min: 2100, max: 2199 })
    assert.deepEqual(g2.added, ['d'])
    assert.deepEqual(g2.removed, ['c'])
    // Only the limit changed: same allocator (its ports stay accounted), new runtime.
    const g3 = planRealms(config(3, [['a', 1000, 1099, 7]]), g2.realms, o)
    assert.deepEqual(g3.changed, [{ name: 'a', ports: false }])
    assert.equal(g3.realms.get('a')?.allocator, g1.realms.get('a')?.allocator)
    assert.equal(g3.realms.get('a')?.maxSessions, 7)
  })

  it('never hands out a port a predecessor still holds where the ranges overlap', () => {
    const old = new PortAllocator({ min: 1000, max: 1009 }, { quarantineMs: 0 })
    const held = [old.allocate(), old.allocate()] // 1000-1003
    const next = new SuccessorPortAllocator({ min: 1000, max: 1019 }, [old], 0)
    const got = Array.from({ length: 8 }, () => next.allocate())
    for (const a of got) assert.ok(!old.isAllocated(a.rtp) && !old.isAllocated(a.rtcp as number), `${a.rtp}`)
    assert.throws(() => next.allocate(), /exhausted|no free/i) // 16 of 20 ports usable while the old calls run
    for (const a of held) old.release(a)
    assert.equal(next.pending.length, 0)
    assert.equal(next.allocate().rtp % 2, 0) // the predecessor is forgotten once its calls ended
  })

  it('keeps the realms map untouched when the new snapshot cannot be served', () => {
    const g1 = planRealms(config(1, [['a', 1000, 1099]]), new Map(), o)
    const before = new Map<string, RealmRuntime>(g1.realms)
    assert.throws(() => planRealms(config(2, [['a', 1099, 1000]]), g1.realms, o))
    assert.deepEqual([...g1.realms], [...before])
  })
})
