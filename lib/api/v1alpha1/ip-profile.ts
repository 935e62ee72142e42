import { type Static, Type } from '@sinclair/typebox'
import { cel, StringEnum, withCel } from '../schema-helpers.ts'
import { CommonStatus } from './conditions.ts'

/** SRTP behaviour of a leg (the seed's SBCMediaSecurityBehaviour). */
export const SrtpModes = ['Mandatory', 'Optional', 'Off'] as const
export type SrtpMode = (typeof SrtpModes)[number]

/** SDES crypto suites (RFC 4568, RFC 7714). */
export const CryptoSuites = [
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
  'AES_256_CM_HMAC_SHA1_80',
  'AEAD_AES_128_GCM',
  'AEAD_AES_256_GCM',
] as const

/** SRTP settings. */
export const Srtp = Type.Object(
  {
    mode: StringEnum(SrtpModes, {
      default: 'Optional',
      description:
        'Mandatory: only SRTP is offered and accepted (RTP/SAVP). Optional: SRTP when the peer offers or accepts it. Off: plain RTP only.',
    }),
    cryptoSuites: Type.Optional(
      Type.Array(StringEnum(CryptoSuites, { description: 'An SDES crypto suite.' }), {
        minItems: 1,
        maxItems: 5,
        default: ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'],
        description: 'SDES crypto suites offered, in order of preference.',
      }),
    ),
  },
  { additionalProperties: false, description: 'SRTP behaviour of legs using this profile.' },
)
export type Srtp = Static<typeof Srtp>

/** One codec of a profile's codec list. */
export const Codec = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 32,
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
      description: 'Encoding name as in SDP a=rtpmap (PCMU, PCMA, G722, opus, telephone-event, ...).',
    }),
    payloadType: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 127,
        description:
          'RTP payload type. Omit for the static type of a well-known codec (PCMU 0, PCMA 8, G722 9) or a free dynamic type (96-127).',
      }),
    ),
    clockRate: Type.Optional(
      Type.Integer({
        minimum: 1000,
        maximum: 192000,
        description:
          'Clock rate in Hz. Omit for the codec default (8000 for G.711 and G722, 48000 for opus).',
      }),
    ),
    channels: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 8,
        description: 'Audio channels. Omit for the codec default (2 for opus, else 1).',
      }),
    ),
    ptime: Type.Optional(
      Type.Integer({
        minimum: 10,
        maximum: 120,
        default: 20,
        description: 'Packetisation time in milliseconds.',
      }),
    ),
  },
  { additionalProperties: false, description: 'A codec in order of preference.' },
)
export type Codec = Static<typeof Codec>

/** What the SBC does with P-Asserted-Identity toward this leg. */
export const AssertedIdentityModes = ['Passthrough', 'Add', 'Remove'] as const
/** What the SBC does with privacy toward this leg. */
export const PrivacyModes = ['Passthrough', 'Restrict', 'Remove'] as const
/** Who refreshes the session timer. */
export const Refreshers = ['UAC', 'UAS', 'Auto'] as const

/** Identity handling (the seed's SBCAssertIdentity). */
export const Identity = Type.Object(
  {
    assertedIdentity: StringEnum(AssertedIdentityModes, {
      default: 'Passthrough',
      description:
        'Passthrough forwards P-Asserted-Identity as received; Add asserts the caller identity (PAI from From when absent, seed SBCAssertIdentity=1); Remove strips it.',
    }),
    privacy: Type.Optional(
      StringEnum(PrivacyModes, {
        default: 'Passthrough',
        description: 'Passthrough forwards Privacy; Restrict adds Privacy: id; Remove strips Privacy.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Caller identity handling toward legs using this profile.' },
)

/** Session timer settings (RFC 4028). */
export const SessionTimer = withCel(
  Type.Object(
    {
      enabled: Type.Boolean({
        default: false,
        description: 'Negotiate RFC 4028 session timers on this leg.',
      }),
      sessionExpiresSeconds: Type.Optional(
        Type.Integer({
          minimum: 90,
          maximum: 86400,
          default: 1800,
          description: 'Session-Expires requested, in seconds.',
        }),
      ),
      minSESeconds: Type.Optional(
        Type.Integer({
          minimum: 90,
          maximum: 86400,
          default: 90,
          description: 'Min-SE accepted, in seconds.',
        }),
      ),
      refresher: Type.Optional(
        StringEnum(Refreshers, {
          default: 'Auto',
          description: 'Which side refreshes: UAC, UAS or Auto (negotiated).',
        }),
      ),
    },
    { additionalProperties: false, description: 'Session timers (RFC 4028) toward legs using this profile.' },
  ),
  [
    cel<{ sessionExpiresSeconds?: number; minSESeconds?: number }>(
      '!has(self.sessionExpiresSeconds) || !has(self.minSESeconds) || self.minSESeconds <= self.sessionExpiresSeconds',
      'minSESeconds must not exceed sessionExpiresSeconds',
      (s) =>
        s.sessionExpiresSeconds === undefined ||
        s.minSESeconds === undefined ||
        s.minSESeconds <= s.sessionExpiresSeconds,
    ),
  ],
)

/** Media settings. */
export const MediaSettings = Type.Object(
  {
    srtp: Type.Optional(Srtp),
    iceLite: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Answer ICE as an ICE-lite agent (RFC 8445) on this leg.',
      }),
    ),
    rtcpMux: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Offer and require RTP/RTCP multiplexing (RFC 5761) on this leg.',
      }),
    ),
    symmetricRtp: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'Send RTP back to where it arrives from rather than the SDP address (NAT traversal).',
      }),
    ),
    codecs: Type.Optional(
      withCel(
        Type.Array(Codec, {
          maxItems: 32,
          description:
            'Codecs allowed on this leg, in order of preference. Empty allows whatever the peers negotiate.',
        }),
        [
          cel<{ name: string; payloadType?: number }[]>(
            'self.all(c, !has(c.payloadType) || self.exists_one(d, has(d.payloadType) && d.payloadType == c.payloadType))',
            'payload types must be unique',
            (cs) =>
              cs.every(
                (c) =>
                  c.payloadType === undefined ||
                  cs.filter((d) => d.payloadType === c.payloadType).length === 1,
              ),
          ),
        ],
      ),
    ),
  },
  { additionalProperties: false, description: 'Media behaviour of legs using this profile.' },
)

/** IPProfile: per-leg media and identity behaviour shared by IP groups (the seed's IP Profile). */
export const IPProfileSpec = Type.Object(
  {
    media: Type.Optional(MediaSettings),
    identity: Type.Optional(Identity),
    sessionTimer: Type.Optional(SessionTimer),
  },
  { additionalProperties: false, description: 'Desired state of an IPProfile.' },
)
export type IPProfileSpec = Static<typeof IPProfileSpec>

/** Observed state of an IPProfile. */
export const IPProfileStatus = CommonStatus
export type IPProfileStatus = Static<typeof IPProfileStatus>
