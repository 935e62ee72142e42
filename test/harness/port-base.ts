import { readFileSync } from 'node:fs'

/**
 * Ports a test binds on loopback: relay ranges (portBase) and single ports (freePort). A port the
 * kernel may hand out as an ephemeral port (any socket bound to port 0 or connecting: NG clients,
 * peers, DNS lookups, SIPp, Redis clients, of this run or another on the machine) could already be
 * taken when the test binds it (EADDRINUSE), so ports are taken from 20,000 up to the start of the
 * kernel's ephemeral range, and above its end. Within this process ports and ranges are handed out
 * one after the other from a random start, wrapping round, so two tests of the run never share a
 * port until all of them were used; the random start keeps parallel runs apart most of the time.
 */

const LOW = 20_000
// 65535 stays out: a test binds it on purpose (an RTP port with no RTCP port after it).
const HIGH = 65_534

/** The kernel's ephemeral range (Linux; its usual default elsewhere). */
function ephemeralRange(): { min: number; max: number } {
  try {
    const [min = Number.NaN, max = Number.NaN] = readFileSync(
      '/proc/sys/net/ipv4/ip_local_port_range',
      'utf8',
    )
      .trim()
      .split(/\s+/)
      .map(Number)
    if (Number.isInteger(min) && Number.isInteger(max) && min <= max) return { min, max }
  } catch {
    // no procfs: the Linux default
  }
  return { min: 32_768, max: 60_999 }
}

/** The windows outside the ephemeral range, each [min, max] inclusive. */
function windows(): [number, number][] {
  const eph = ephemeralRange()
  const out: [number, number][] = []
  if (eph.min > LOW) out.push([LOW, Math.min(eph.min - 1, HIGH)])
  if (eph.max < HIGH) out.push([Math.max(eph.max + 1, LOW), HIGH])
  return out
}

let cursor: number | null = null

/** The port `fraction` (0 ≤ fraction < 1) of the way through `wins` laid end to end. */
export function portAt(fraction: number, wins: readonly [number, number][]): number {
  const total = wins.reduce((n, [min, max]) => n + (max - min + 1), 0)
  let offset = Math.floor(fraction * total)
  for (const [min, max] of wins) {
    if (offset <= max - min) return min + offset
    offset -= max - min + 1
  }
  throw new Error(`portAt: ${fraction} is not in [0, 1)`)
}

/**
 * The first port of `size` consecutive ports outside the kernel's ephemeral range (even when
 * `even`) that no earlier call of this process was given (until the ranges wrap round).
 */
function take(size: number, even: boolean): number {
  const wins = windows().filter(([min, max]) => max - min + 1 >= size)
  const first = wins[0]
  if (first === undefined) throw new Error(`portBase: no room for ${size} ports outside the ephemeral range`)
  const span = even ? size + (size % 2) : size
  // A random start spread evenly over the windows (it used to be spread over one span from the first
  // window's start, so a start past that window's end landed on the second's first port, 61000: a
  // quarter of all processes began there, together).
  if (cursor === null) cursor = portAt(Math.random(), wins)
  for (let round = 0; round < 2; round++) {
    for (const [min, max] of wins) {
      let base = Math.max(cursor, min)
      if (even) base += base % 2
      if (base + size - 1 <= max) {
        cursor = base + span
        return base
      }
    }
    cursor = first[0]
  }
  throw new Error(`portBase: no range of ${size} ports found`)
}

/**
 * The even first port of `size` consecutive ports outside the kernel's ephemeral range that no
 * earlier call of this process was given (until the ranges wrap round).
 */
export function portBase(size: number): number {
  if (!Number.isInteger(size) || size < 1)
    throw new Error(`portBase: size must be a positive integer, got ${size}`)
  return take(size, true)
}

/**
 * One port outside the kernel's ephemeral range, from the same sequence as {@link portBase}: never
 * in a range it gave (until the ranges wrap round). For freePort, which probes it.
 */
export function nextPort(): number {
  return take(1, false)
}
