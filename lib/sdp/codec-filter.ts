import { rtpMaps } from './attributes.ts'
import { SdpError, SdpErrorCode } from './errors.ts'
import { assignPayloadTypes, isCodec } from './payload-types.ts'
import type { MediaSection } from './session-description.ts'

/** One codec of an IP profile's ordered list, e.g. `{ name: 'opus', clockRate: 48000, channels: 2, payloadType: 111 }`. */
export interface CodecProfileEntry {
  /** Encoding name, matched case-insensitively (RFC 4855 §3: media subtype names are case-insensitive). */
  name: string
  clockRate: number
  /** Default 1. */
  channels?: number
  /**
   * The payload type the profile wants for a dynamic codec. When the offer uses another dynamic
   * type, the section is renumbered ({@link assignPayloadTypes}: a format without a wish holding
   * that type yields) and the mapping returned, so the relay can rewrite RTP headers.
   */
  payloadType?: number
}

/** What {@link filterCodecs} did. */
export interface CodecFilterResult {
  /** Payload types kept, in their new order (after renumbering). */
  kept: number[]
  /** Payload types removed. */
  removed: number[]
  /** Renumbered dynamic payload types: offered → advertised. */
  payloadTypeMap: Map<number, number>
}

const TELEPHONE_EVENT = 'telephone-event'
/** Attributes whose value starts with a payload type. */
const PT_ATTRIBUTES = ['rtpmap', 'fmtp', 'rtcp-fb'] as const

/**
 * Filters and reorders the formats of an RTP media section by a profile list, like rtpengine's
 * `codec: { strip: ['all'], offer: [...] }`.
 *
 * @remarks
 * Codecs are kept in profile order; the first is the preferred one (RFC 3264 §5.1: formats are
 * "listed in order of preference"). `telephone-event` (RFC 4733) is kept for every clock rate that a
 * kept codec uses, since DTMF events must use the audio codec's clock (RFC 4733 §2.1), unless
 * `keepTelephoneEvent` is false. rtpmap, fmtp and rtcp-fb lines of removed types are dropped.
 * Throws `SBC_ERR_SDP_NO_CODEC` if nothing is left, so signalling can answer 488.
 */
export function filterCodecs(
  media: MediaSection,
  profile: readonly CodecProfileEntry[],
  options: { keepTelephoneEvent?: boolean } = {},
): CodecFilterResult {
  const maps = rtpMaps(media, media.formats)
  const offered = media.formats.map((f) => Number(f)).filter((pt) => Number.isInteger(pt))
  const keep: number[] = []
  for (const entry of profile) {
    for (const pt of offered) {
      const r = maps.get(pt)
      if (!r || keep.includes(pt) || !isCodec(r, entry)) continue
      keep.push(pt)
      break
    }
  }
  if (keep.length === 0) {
    throw new SdpError(SdpErrorCode.noCodec, `no offered codec of ${media.media} matches the profile`)
  }
  if (options.keepTelephoneEvent ?? true) {
    const clocks = new Set(keep.map((pt) => maps.get(pt)?.clockRate))
    for (const pt of offered) {
      const r = maps.get(pt)
      if (
        r &&
        r.encoding.toLowerCase() === TELEPHONE_EVENT &&
        clocks.has(r.clockRate) &&
        !keep.includes(pt)
      ) {
        keep.push(pt)
      }
    }
  }
  const removed = offered.filter((pt) => !keep.includes(pt))
  const ptOf = (v: string) => Number(/^(\d{1,3})\b/.exec(v)?.[1] ?? Number.NaN)
  for (const name of PT_ATTRIBUTES) media.removeAttributes(name, (v) => removed.includes(ptOf(v)))
  media.formats = keep.map(String)
  const wishes = profile.flatMap((e) =>
    e.payloadType === undefined ? [] : [{ ...e, payloadType: e.payloadType }],
  )
  const payloadTypeMap = assignPayloadTypes(media, wishes)
  return { kept: media.formats.map(Number), removed, payloadTypeMap }
}
