import { readFileSync } from 'node:fs'

/** SIPp's G.711 A-law sample (Debian sip-tester): 236 RTP packets, PT 8, 30 ms each. */
export const G711A_PCAP = '/usr/share/sip-tester/g711a.pcap'

/**
 * The RTP packets of a classic pcap file (libpcap format, Ethernet link type, IPv4/UDP), in file
 * order. Only what the test pcaps need: no pcapng, no VLAN tags, no IP fragments.
 */
export function rtpPacketsOf(file: string): Buffer[] {
  const d = readFileSync(file)
  const magic = d.readUInt32LE(0)
  const le = magic === 0xa1b2c3d4
  if (!le && d.readUInt32BE(0) !== 0xa1b2c3d4) throw new Error(`${file}: not a classic pcap file`)
  const u32 = (o: number) => (le ? d.readUInt32LE(o) : d.readUInt32BE(o))
  if (u32(20) !== 1) throw new Error(`${file}: link type ${u32(20)}, expected Ethernet (1)`)
  const out: Buffer[] = []
  for (let o = 24; o + 16 <= d.length; ) {
    const caplen = u32(o + 8)
    const p = d.subarray(o + 16, o + 16 + caplen)
    o += 16 + caplen
    if (p.readUInt16BE(12) !== 0x0800) continue
    const ihl = (p[14]! & 0x0f) * 4
    if (p[14 + 9] !== 17) continue
    out.push(Buffer.from(p.subarray(14 + ihl + 8)))
  }
  return out
}

/** The payload of an RTP packet (RFC 3550 §5.1: after the CSRCs and the header extension). */
export function rtpPayload(p: Buffer): Buffer {
  let o = 12 + (p[0]! & 0x0f) * 4
  if (p[0]! & 0x10) o += 4 + p.readUInt16BE(o + 2) * 4
  const padded = (p[0]! & 0x20) !== 0
  return p.subarray(o, padded ? p.length - p[p.length - 1]! : p.length)
}
