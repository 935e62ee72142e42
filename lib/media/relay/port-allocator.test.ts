import assert from 'node:assert/strict'
import {
  type PortAllocation,
  PortAllocator,
  PortAllocatorError,
  PortAllocatorErrorCode,
  splitPortRange,
} from './port-allocator.ts'

function code(fn: () => unknown, expected: string): void {
  assert.throws(fn, (e: unknown) => e instanceof PortAllocatorError && e.code === expected)
}

describe('PortAllocator', () => {
  let clock = 0
  const now = () => clock
  beforeEach(() => {
    clock = 0
  })

  it('hands out even RTP ports with RTCP on the next odd port, round-robin', () => {
    const a = new PortAllocator({ min: 30000, max: 30007 }, { now })
    assert.deepEqual(a.allocate(), { rtp: 30000, rtcp: 30001 })
    assert.deepEqual(a.allocate(), { rtp: 30002, rtcp: 30003 })
    assert.deepEqual(a.counts(), { total: 8, inUse: 4, quarantined: 0, free: 4 })
  })

  it('starts pairs on an even port when the range starts odd', () => {
    const a = new PortAllocator({ min: 30001, max: 30006 }, { now })
    assert.deepEqual(
      [a.allocate(), a.allocate()].map((x) => x.rtp),
      [30002, 30004],
    )
    code(() => a.allocate(), PortAllocatorErrorCode.exhausted)
    // 30001 and 30006 have no partner in range but can carry muxed RTP+RTCP.
    assert.deepEqual([a.allocate({ mux: true }).rtp, a.allocate({ mux: true }).rtp].sort(), [30001, 30006])
  })

  const exhaustion: { name: string; range: [number, number]; mux: boolean; fits: number }[] = [
    { name: 'pairs in an even range', range: [40000, 40009], mux: false, fits: 5 },
    { name: 'muxed ports', range: [40000, 40009], mux: true, fits: 10 },
    { name: 'pairs in a one-port range', range: [40000, 40000], mux: false, fits: 0 },
    { name: 'a muxed one-port range', range: [40001, 40001], mux: true, fits: 1 },
  ]
  for (const t of exhaustion) {
    it(`exhausts after ${t.fits} ${t.name} with SBC_ERR_PORT_EXHAUSTED`, () => {
      const a = new PortAllocator({ min: t.range[0], max: t.range[1] }, { now })
      const got = new Set<number>()
      for (let i = 0; i < t.fits; i++) got.add(a.allocate({ mux: t.mux }).rtp)
      assert.equal(got.size, t.fits)
      code(() => a.allocate({ mux: t.mux }), PortAllocatorErrorCode.exhausted)
    })
  }

  it('keeps released ports in quarantine until it expires', () => {
    const a = new PortAllocator({ min: 50000, max: 50003 }, { now, quarantineMs: 1000 })
    const first = a.allocate()
    a.allocate()
    a.release(first)
    assert.deepEqual(a.counts(), { total: 4, inUse: 2, quarantined: 2, free: 0 })
    code(() => a.allocate(), PortAllocatorErrorCode.exhausted)
    clock = 999
    code(() => a.allocate(), PortAllocatorErrorCode.exhausted)
    clock = 1000
    assert.deepEqual(a.allocate(), first)
    assert.deepEqual(a.counts(), { total: 4, inUse: 4, quarantined: 0, free: 0 })
  })

  it('does not reuse a just-freed port while others are free, even without quarantine', () => {
    const a = new PortAllocator({ min: 50000, max: 50009 }, { now, quarantineMs: 0 })
    const x = a.allocate()
    a.release(x)
    assert.notEqual(a.allocate().rtp, x.rtp)
  })

  it('prefers half-used pairs for muxed ports so whole pairs stay available', () => {
    const a = new PortAllocator({ min: 60000, max: 60003 }, { now, quarantineMs: 0 })
    const m1 = a.allocate({ mux: true })
    const m2 = a.allocate({ mux: true })
    assert.equal(Math.floor(m1.rtp / 2), Math.floor(m2.rtp / 2), 'second muxed port fills the same pair')
    assert.deepEqual(a.allocate(), { rtp: 60002, rtcp: 60003 })
  })

  it('rejects double release and foreign ports with SBC_ERR_PORT_NOT_ALLOCATED', () => {
    const a = new PortAllocator({ min: 50000, max: 50009 }, { now })
    const x = a.allocate()
    a.release(x)
    code(() => a.release(x), PortAllocatorErrorCode.notAllocated)
    code(() => a.release({ rtp: 12, rtcp: undefined }), PortAllocatorErrorCode.notAllocated)
    code(() => a.release({ rtp: 50002, rtcp: 50003 }), PortAllocatorErrorCode.notAllocated)
  })

  it('leaves nothing allocated after 1,000 sequential calls', () => {
    const a = new PortAllocator({ min: 20000, max: 20099 }, { now, quarantineMs: 10 })
    for (let i = 0; i < 1000; i++) {
      const legs: PortAllocation[] = [a.allocate(), a.allocate({ mux: i % 2 === 0 })]
      for (const l of legs) a.release(l)
      clock += 5
    }
    clock += 10
    assert.deepEqual(a.counts(), { total: 100, inUse: 0, quarantined: 0, free: 100 })
  })

  const invalid: [string, number, number][] = [
    ['min > max', 100, 99],
    ['port 0', 0, 10],
    ['above 65535', 65000, 65536],
    ['non-integer', 1.5, 10],
  ]
  for (const [name, min, max] of invalid) {
    it(`rejects a range with ${name}`, () =>
      code(() => new PortAllocator({ min, max }), PortAllocatorErrorCode.invalidRange))
  }
})

describe('splitPortRange', () => {
  const cases: { range: [number, number]; parts: number; want: [number, number][] }[] = [
    {
      range: [30000, 30099],
      parts: 2,
      want: [
        [30000, 30049],
        [30050, 30099],
      ],
    },
    {
      range: [30000, 30009],
      parts: 3,
      want: [
        [30000, 30003],
        [30004, 30007],
        [30008, 30009],
      ],
    },
    {
      range: [30001, 30010],
      parts: 2,
      want: [
        [30002, 30005],
        [30006, 30009],
      ],
    },
    { range: [30000, 30001], parts: 1, want: [[30000, 30001]] },
  ]
  for (const c of cases) {
    it(`splits ${c.range.join('-')} into ${c.parts}`, () => {
      assert.deepEqual(
        splitPortRange({ min: c.range[0], max: c.range[1] }, c.parts).map((r) => [r.min, r.max]),
        c.want,
      )
    })
  }

  it('refuses more parts than pairs, and non-positive parts', () => {
    code(() => splitPortRange({ min: 30000, max: 30003 }, 3), PortAllocatorErrorCode.invalidRange)
    code(() => splitPortRange({ min: 30000, max: 30003 }, 0), PortAllocatorErrorCode.invalidRange)
  })
})
