import type { Codec, IPProfileSpec } from '../../api/v1alpha1/ip-profile.ts'
import type { CodecConfig, ProfileConfig } from '../model.ts'
import type { Candidate, CompileContext } from './context.ts'

/** Static payload types and defaults of well-known codecs (RFC 3551 table 4, RFC 7587 for opus). */
const KNOWN: Record<string, { payloadType?: number; clockRate: number; channels: number }> = {
  pcmu: { payloadType: 0, clockRate: 8000, channels: 1 },
  gsm: { payloadType: 3, clockRate: 8000, channels: 1 },
  g723: { payloadType: 4, clockRate: 8000, channels: 1 },
  pcma: { payloadType: 8, clockRate: 8000, channels: 1 },
  // RFC 3551 §4.5.2: G722's RTP clock rate is 8000 for historical reasons, though it samples at 16 kHz.
  g722: { payloadType: 9, clockRate: 8000, channels: 1 },
  g729: { payloadType: 18, clockRate: 8000, channels: 1 },
  opus: { clockRate: 48000, channels: 2 },
  'telephone-event': { clockRate: 8000, channels: 1 },
}

/** Resolves payload types (static ones, else the lowest free dynamic type), clock rates and channels. */
export function resolveCodecs(codecs: readonly Codec[] | undefined): CodecConfig[] {
  const list = codecs ?? []
  const used = new Set<number>(list.flatMap((c) => (c.payloadType === undefined ? [] : [c.payloadType])))
  for (const c of list) {
    const known = KNOWN[c.name.toLowerCase()]
    if (c.payloadType === undefined && known?.payloadType !== undefined) used.add(known.payloadType)
  }
  let next = 96
  return list.map((c) => {
    const known = KNOWN[c.name.toLowerCase()]
    let pt = c.payloadType ?? known?.payloadType
    if (pt === undefined) {
      while (used.has(next)) next++
      pt = next
      used.add(pt)
    }
    return {
      name: c.name,
      payloadType: pt,
      clockRate: c.clockRate ?? known?.clockRate ?? 8000,
      channels: c.channels ?? known?.channels ?? 1,
      ptime: c.ptime ?? 20,
    }
  })
}

/** Compiles IPProfiles: they refer to nothing, so this applies every default. */
export function compileIPProfiles(
  ctx: CompileContext,
  candidates: readonly Candidate<IPProfileSpec>[],
): ProfileConfig[] {
  return candidates.map((c) => {
    ctx.markIncluded('IPProfile', c.name)
    const m = c.spec.media
    const t = c.spec.sessionTimer
    return {
      name: c.name,
      srtp: {
        mode: m?.srtp?.mode ?? 'Optional',
        cryptoSuites:
          m?.srtp?.mode === 'Off'
            ? []
            : [...(m?.srtp?.cryptoSuites ?? ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'])],
      },
      iceLite: m?.iceLite ?? false,
      rtcpMux: m?.rtcpMux ?? false,
      symmetricRtp: m?.symmetricRtp ?? true,
      codecs: resolveCodecs(m?.codecs),
      identity: {
        assertedIdentity: c.spec.identity?.assertedIdentity ?? 'Passthrough',
        privacy: c.spec.identity?.privacy ?? 'Passthrough',
      },
      sessionTimer: {
        enabled: t?.enabled ?? false,
        sessionExpiresSeconds: t?.sessionExpiresSeconds ?? 1800,
        minSESeconds: t?.minSESeconds ?? 90,
        refresher: t?.refresher ?? 'Auto',
      },
    }
  })
}
