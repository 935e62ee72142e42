import { type RtpMap, rtpMaps } from './attributes.ts'
import type { MediaSection } from './session-description.ts'

/** RFC 3551 §3: payload types 96–127 are dynamic, bound to a codec by the SDP (a=rtpmap). */
export const DYNAMIC_MIN = 96
export const DYNAMIC_MAX = 127

const isDynamic = (pt: number) => pt >= DYNAMIC_MIN && pt <= DYNAMIC_MAX

/** A codec and the dynamic payload type it should be on, e.g. opus/48000/2 on 111. */
export interface PayloadTypeWish {
  /** Encoding name, matched case-insensitively (RFC 4855 §3). */
  readonly name: string
  readonly clockRate: number
  /** Default 1. */
  readonly channels?: number
  readonly payloadType: number
}

/** Whether an rtpmap is the codec of a wish (name, clock rate and channels). */
export function isCodec(r: RtpMap, c: { name: string; clockRate: number; channels?: number }): boolean {
  return (
    r.encoding.toLowerCase() === c.name.toLowerCase() &&
    r.clockRate === c.clockRate &&
    r.channels === (c.channels ?? 1)
  )
}

/**
 * Renumbers formats of a media section in place, all at once (`96→111, 111→96` swaps): the m= list,
 * and the rtpmap, fmtp and rtcp-fb lines of each moved format, where they stand.
 */
export function renumberFormats(media: MediaSection, map: ReadonlyMap<number, number>): void {
  if (map.size === 0) return
  for (const line of media.lines) {
    if (line.type !== 'a') continue
    const m = /^(rtpmap|fmtp|rtcp-fb):(\d{1,3})\b(.*)$/.exec(line.value)
    const to = m ? map.get(Number(m[2])) : undefined
    if (m && to !== undefined) line.value = `${m[1]}:${to}${m[3]}`
  }
  media.formats = media.formats.map((f) => String(map.get(Number(f)) ?? f))
}

/**
 * Puts each codec of `wishes` that the section carries on a dynamic payload type on the wished
 * type (the IP profile's "opus on 111"), and returns what moved: offered type → new type.
 *
 * @remarks
 * Only dynamic types move, and only to dynamic types: a static type (PCMU 0) means its codec by
 * definition (RFC 3551 §6). When the wished type is held by another format of the section that
 * has no wish of its own on it, that format yields and moves to the lowest dynamic type left free
 * (a swap when that is the one the wished codec vacated). Of two wishes for one type the first wins. The section is renumbered in place
 * ({@link renumberFormats}); the caller keeps the map so the relay can rewrite RTP headers.
 */
export function assignPayloadTypes(
  media: MediaSection,
  wishes: readonly PayloadTypeWish[],
): Map<number, number> {
  const formats = media.formats.map(Number).filter((pt) => Number.isInteger(pt))
  const maps = rtpMaps(media, media.formats)
  const final = new Map(formats.map((pt) => [pt, pt]))
  const claimed = new Set<number>()
  const wished = new Set<number>()
  for (const w of wishes) {
    if (!isDynamic(w.payloadType) || claimed.has(w.payloadType)) continue
    const pt = formats.find(
      (f) => isDynamic(f) && !wished.has(f) && maps.has(f) && isCodec(maps.get(f) as RtpMap, w),
    )
    if (pt === undefined) continue
    wished.add(pt)
    claimed.add(w.payloadType)
    final.set(pt, w.payloadType)
  }
  // Formats without a wish standing on a claimed type move to the lowest free dynamic type. There
  // always is one: each claim moved a codec off a dynamic type, and the section's distinct dynamic
  // formats are at most the 32 dynamic types.
  for (const pt of formats) {
    if (wished.has(pt) || !claimed.has(pt)) continue
    const inUse = new Set(final.values())
    let free = DYNAMIC_MIN
    while (free < DYNAMIC_MAX && (inUse.has(free) || claimed.has(free))) free++
    final.set(pt, free)
  }
  const moved = new Map<number, number>()
  for (const [from, to] of final) if (from !== to) moved.set(from, to)
  renumberFormats(media, moved)
  return moved
}
