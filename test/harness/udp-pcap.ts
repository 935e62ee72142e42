import { readFileSync } from 'node:fs'

export interface Datagram {
  /** Kernel timestamp, µs since the epoch. */
  us: number
  srcPort: number
  dstPort: number
  payload: Buffer
}

/** The IPv4 UDP datagrams of a classic pcap file (Ethernet or Linux cooked link type), in file order. */
export function udpDatagramsOf(file: string): Datagram[] {
  const d = readFileSync(file)
  const magic = d.readUInt32LE(0)
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d
  const m = le ? magic : d.readUInt32BE(0)
  if (m !== 0xa1b2c3d4 && m !== 0xa1b23c4d) throw new Error(`${file}: not a classic pcap file`)
  const nanos = m === 0xa1b23c4d
  const u32 = (o: number) => (le ? d.readUInt32LE(o) : d.readUInt32BE(o))
  const link = u32(20)
  // Ethernet (lo on Linux) has a 14-octet header, Linux cooked capture (SLL) 16, both end in EtherType.
  const l2 = link === 1 ? 14 : link === 113 ? 16 : -1
  if (l2 < 0) throw new Error(`${file}: link type ${link}, expected Ethernet (1) or Linux cooked (113)`)
  const out: Datagram[] = []
  for (let o = 24; o + 16 <= d.length; ) {
    const sec = u32(o)
    const frac = u32(o + 4)
    const caplen = u32(o + 8)
    const p = d.subarray(o + 16, o + 16 + caplen)
    o += 16 + caplen
    if (p.length < l2 + 28 || p.readUInt16BE(l2 - 2) !== 0x0800 || p[l2 + 9] !== 17) continue
    const ihl = (p[l2]! & 0x0f) * 4
    const udp = l2 + ihl
    out.push({
      us: sec * 1e6 + (nanos ? Math.floor(frac / 1000) : frac),
      srcPort: p.readUInt16BE(udp),
      dstPort: p.readUInt16BE(udp + 2),
      payload: p.subarray(udp + 8),
    })
  }
  return out
}
