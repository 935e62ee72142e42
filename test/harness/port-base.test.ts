import { strict as assert } from 'node:assert'
import { readFileSync } from 'node:fs'
import { portAt, portBase } from './port-base.ts'

/**
 * The relay port ranges tests bind: never where the kernel hands out ports to sockets bound to 0
 * (the EADDRINUSE a test once hit), never a range another call of this process was given.
 */
describe('test harness: portBase', () => {
  const [ephMin = 32_768, ephMax = 60_999] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number)

  it('gives even ranges outside the ephemeral range, none overlapping, across a wrap-round', () => {
    const ranges: [number, number][] = []
    for (let i = 0; i < 400; i++) {
      const size = [20, 100, 199, 300][i % 4] as number
      const base = portBase(size)
      const end = base + size - 1
      assert.equal(base % 2, 0, `${base} is even`)
      assert.ok(base >= 20_000 && end <= 65_535, `${base}-${end} in 20000-65535`)
      assert.ok(end < ephMin || base > ephMax, `${base}-${end} outside ${ephMin}-${ephMax}`)
      ranges.push([base, end])
    }
    // Until the ranges wrap round (more than 17,000 ports here), no two share a port.
    const first = ranges.slice(0, 60).sort((a, b) => a[0] - b[0])
    for (let i = 1; i < first.length; i++) {
      const prev = first[i - 1] as [number, number]
      const cur = first[i] as [number, number]
      assert.ok(cur[0] > prev[1], `${prev.join('-')} and ${cur.join('-')} overlap`)
    }
  })

  it('starts each process at a point spread evenly over the windows, not bunched at a window start', () => {
    const wins: [number, number][] = [
      [20_000, 32_767],
      [61_000, 65_534],
    ]
    const starts = Array.from({ length: 1000 }, (_, i) => portAt(i / 1000, wins))
    assert.equal(starts[0], 20_000)
    assert.ok(starts.every((p) => (p >= 20_000 && p <= 32_767) || (p >= 61_000 && p <= 65_534)))
    // 4,535 of 17,303 ports are in the second window: about 262 of 1,000 evenly spaced starts.
    const second = starts.filter((p) => p >= 61_000).length
    assert.ok(second > 250 && second < 275, `${second} starts in the second window`)
    assert.ok(starts.filter((p) => p === 61_000).length <= 1, 'not bunched on its first port')
    assert.throws(() => portAt(1, wins), /not in \[0, 1\)/)
  })

  it('refuses a size that is not a positive integer', () => {
    assert.throws(() => portBase(0), /positive integer/)
    assert.throws(() => portBase(1.5), /positive integer/)
  })
})
