import { udpDatagramsOf } from '../../test/harness/udp-pcap.ts'

/** SIPp's G.711 A-law sample (Debian sip-tester): 236 RTP packets, PT 8, 30 ms each. */
export const G711A_PCAP = '/usr/share/sip-tester/g711a.pcap'

/** The UDP payloads (the RTP packets of the test pcaps) of a classic pcap file, in file order. */
export function rtpPacketsOf(file: string): Buffer[] {
  return udpDatagramsOf(file).map((d) => Buffer.from(d.payload))
}

/** The payload of an RTP packet (RFC 3550 §5.1: after the CSRCs and the header extension). */
export function rtpPayload(p: Buffer): Buffer {
  let o = 12 + (p[0]! & 0x0f) * 4
  if (p[0]! & 0x10) o += 4 + p.readUInt16BE(o + 2) * 4
  const padded = (p[0]! & 0x20) !== 0
  return p.subarray(o, padded ? p.length - p[p.length - 1]! : p.length)
}
