import { type Static, Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { type BencodeDict, type BencodeValue, bdecode, bencode } from './bencode.ts'
import { BencodeError, NgError, NgErrorCode } from './errors.ts'

/**
 * rtpengine's NG protocol messages: `<cookie> <bencoded dictionary>` in one UDP datagram. Both sides
 * (our client in signalling, our server in the media pod) share the schemas below; see
 * docs/media-control-protocol.md for the supported subset, flag by flag.
 */

/** Longest cookie we accept; rtpengine's and Kamailio's are short tokens like `5323_1`. */
const MAX_COOKIE = 128

/**
 * Longest reply datagram: the largest UDP payload over IPv4 (65,535 − 20 − 8). A longer reply cannot
 * be sent at all, and the client would hear nothing.
 */
export const MAX_NG_REPLY = 65_507

/** Commands this implementation knows. */
export const NgCommands = [
  'ping',
  'offer',
  'answer',
  'delete',
  'query',
  'list',
  'statistics',
  'withdraw offer',
] as const
export type NgCommand = (typeof NgCommands)[number]

const Str = Type.String()
const StrList = Type.Array(Type.String(), { maxItems: 256 })
const NonEmpty = Type.String({ minLength: 1, maxLength: 1024 })

/** The `codec` dictionary (rtpengine's codec manipulations). */
export const NgCodecOptions = Type.Object(
  {
    strip: Type.Optional(StrList),
    offer: Type.Optional(StrList),
    mask: Type.Optional(StrList),
    transcode: Type.Optional(StrList),
    except: Type.Optional(StrList),
    accept: Type.Optional(StrList),
    consume: Type.Optional(StrList),
    set: Type.Optional(StrList),
  },
  { additionalProperties: true },
)
export type NgCodecOptions = Static<typeof NgCodecOptions>

/** Keys common to `offer` and `answer`. */
const SdpExchange = {
  'call-id': NonEmpty,
  'from-tag': NonEmpty,
  sdp: Type.String({ minLength: 1 }),
  'to-tag': Type.Optional(Str),
  'via-branch': Type.Optional(Str),
  flags: Type.Optional(StrList),
  replace: Type.Optional(StrList),
  'transport protocol': Type.Optional(Str),
  ICE: Type.Optional(Str),
  'ICE-lite': Type.Optional(Str),
  'rtcp-mux': Type.Optional(StrList),
  direction: Type.Optional(Type.Array(Type.String(), { maxItems: 2 })),
  interface: Type.Optional(Str),
  label: Type.Optional(Str),
  codec: Type.Optional(NgCodecOptions),
  SDES: Type.Optional(StrList),
  DTLS: Type.Optional(Str),
  ptime: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  'ptime-reverse': Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  'media address': Type.Optional(Str),
  'address family': Type.Optional(Type.Union([Type.Literal('IP4'), Type.Literal('IP6')])),
  'received from': Type.Optional(Type.Array(Type.String(), { minItems: 2, maxItems: 2 })),
  'record call': Type.Optional(Str),
  'media echo': Type.Optional(Str),
  TOS: Type.Optional(Type.Integer()),
  supports: Type.Optional(StrList),
  /**
   * kube-sbc extension, `offer`: the dynamic payload type each codec should have toward the
   * receiver, by `name/clock[/channels]` (`{ 'opus/48000/2': 111 }`); the relay maps RTP between
   * the legs' numbers. docs/media-control-protocol.md, "kube-sbc extensions".
   */
  'payload types': Type.Optional(
    Type.Record(Type.String({ maxLength: 64 }), Type.Integer({ minimum: 96, maximum: 127 }), {
      maxProperties: 32,
    }),
  ),
  /** kube-sbc extension: optional shared secret, stripped before the handler sees the request. */
  'kube-sbc-secret': Type.Optional(Str),
}

export const NgPingRequest = Type.Object({ command: Type.Literal('ping') }, { additionalProperties: true })
export const NgOfferRequest = Type.Object(
  { command: Type.Literal('offer'), ...SdpExchange },
  { additionalProperties: true },
)
export const NgAnswerRequest = Type.Object(
  { command: Type.Literal('answer'), ...SdpExchange, 'to-tag': NonEmpty },
  { additionalProperties: true },
)
export const NgDeleteRequest = Type.Object(
  {
    command: Type.Literal('delete'),
    'call-id': NonEmpty,
    'from-tag': Type.Optional(Str),
    'to-tag': Type.Optional(Str),
    'via-branch': Type.Optional(Str),
    flags: Type.Optional(StrList),
    'delete delay': Type.Optional(Type.Integer({ minimum: 0 })),
    label: Type.Optional(Str),
  },
  { additionalProperties: true },
)
export const NgQueryRequest = Type.Object(
  {
    command: Type.Literal('query'),
    'call-id': NonEmpty,
    'from-tag': Type.Optional(Str),
    'to-tag': Type.Optional(Str),
  },
  { additionalProperties: true },
)
export const NgListRequest = Type.Object(
  { command: Type.Literal('list'), limit: Type.Optional(Type.Integer({ minimum: 1 })) },
  { additionalProperties: true },
)
export const NgStatisticsRequest = Type.Object(
  { command: Type.Literal('statistics') },
  { additionalProperties: true },
)
/**
 * kube-sbc extension: the re-offer `from-tag` sent last was refused by the answerer (a non-2xx final
 * response, RFC 3264 §8): the session goes back to what it was before that offer.
 * docs/media-control-protocol.md, "kube-sbc extensions".
 */
export const NgWithdrawOfferRequest = Type.Object(
  { command: Type.Literal('withdraw offer'), 'call-id': NonEmpty, 'from-tag': NonEmpty },
  { additionalProperties: true },
)

export type NgPingRequest = Static<typeof NgPingRequest>
export type NgOfferRequest = Static<typeof NgOfferRequest>
export type NgAnswerRequest = Static<typeof NgAnswerRequest>
export type NgDeleteRequest = Static<typeof NgDeleteRequest>
export type NgQueryRequest = Static<typeof NgQueryRequest>
export type NgListRequest = Static<typeof NgListRequest>
export type NgStatisticsRequest = Static<typeof NgStatisticsRequest>
export type NgWithdrawOfferRequest = Static<typeof NgWithdrawOfferRequest>
/** Any request this implementation understands. */
export type NgRequest =
  | NgPingRequest
  | NgOfferRequest
  | NgAnswerRequest
  | NgDeleteRequest
  | NgQueryRequest
  | NgListRequest
  | NgStatisticsRequest
  | NgWithdrawOfferRequest

/** The schema of each command's request. */
export const REQUEST_SCHEMAS = {
  ping: NgPingRequest,
  offer: NgOfferRequest,
  answer: NgAnswerRequest,
  delete: NgDeleteRequest,
  query: NgQueryRequest,
  list: NgListRequest,
  statistics: NgStatisticsRequest,
  'withdraw offer': NgWithdrawOfferRequest,
} as const

/** The reply dictionary. Command-specific keys (`sdp`, `calls`, `tags`, `totals`, ...) ride along. */
export const NgResponse = Type.Object(
  {
    result: Type.Union([
      Type.Literal('ok'),
      Type.Literal('pong'),
      Type.Literal('error'),
      Type.Literal('load limit'),
    ]),
    'error-reason': Type.Optional(Str),
    warning: Type.Optional(Str),
    sdp: Type.Optional(Str),
  },
  { additionalProperties: true },
)
export type NgResponse = Static<typeof NgResponse> & { [key: string]: unknown }

/** Response of `offer`/`answer`: the rewritten SDP. */
export type NgSdpResponse = NgResponse & { result: 'ok'; sdp: string }
/** Response of `list`. */
export type NgListResponse = NgResponse & { calls: string[] }

/**
 * Flags of the `flags` list that we recognise (compared with spaces turned into hyphens, as rtpengine
 * allows "Spaces in each string may be replaced by hyphens"). Their status is in the protocol doc.
 */
export const KNOWN_FLAGS: ReadonlySet<string> = new Set([
  'trust-address',
  'SIP-source-address',
  'symmetric',
  'asymmetric',
  'strict-source',
  'media-handover',
  'port-latching',
  'no-port-latching',
  'reset',
  'original-sendrecv',
  'no-rtcp-attribute',
  'full-rtcp-attribute',
  'generate-mid',
  'strip-extmap',
  'single-codec',
  'reject-ICE',
  'trickle-ICE',
  'loop-protect',
  'pad-crypto',
  'fatal',
  'all',
  'debug',
  'record-call',
  'early-media',
])

/**
 * Prefixed flags rtpengine folds into dictionary keys: `SDES-<opt>` → `SDES`, `codec-<op>-<codec>`
 * → `codec.<op>`, `replace-<what>` → `replace`, `rtcp-mux-<opt>` → `rtcp-mux`, `ICE=<v>` style
 * `ICE-<v>` is not folded (ambiguous with ICE-lite) and stays a warning.
 */
const CODEC_OPS = ['strip', 'offer', 'mask', 'transcode', 'except', 'accept', 'consume', 'set'] as const

/** Values rtpengine defines for the enum-like keys; anything else is tolerated with a warning. */
export const KNOWN_VALUES: Readonly<Record<string, readonly string[]>> = {
  'transport protocol': [
    'RTP/AVP',
    'RTP/AVPF',
    'RTP/SAVP',
    'RTP/SAVPF',
    'UDP/TLS/RTP/SAVP',
    'UDP/TLS/RTP/SAVPF',
    'accept',
  ],
  ICE: ['remove', 'force', 'default', 'force-relay', 'optional'],
  'ICE-lite': ['forward', 'backward', 'both', 'off'],
  'rtcp-mux': ['offer', 'require', 'demux', 'accept', 'reject'],
  replace: [
    'origin',
    'session-connection',
    'force-increment-sdp-ver',
    'SDP-version',
    'username',
    'session-name',
    'zero-address',
  ],
  DTLS: ['off', 'no', 'disable', 'passive', 'active'],
}

/** A request after key normalisation, validation and flag folding, with rtpengine-style warnings. */
export interface ParsedNgRequest {
  cookie: string
  request: NgRequest
  /** Unknown keys, flags and values, tolerated (as rtpengine logs and ignores them). */
  warnings: string[]
}

/** All keys named in the schemas, used to map `transport-protocol` to `transport protocol` and back. */
const SCHEMA_KEYS: ReadonlySet<string> = new Set(
  Object.values(REQUEST_SCHEMAS).flatMap((s) => Object.keys(s.properties)),
)

/** rtpengine accepts keys with spaces or hyphens (`transport-protocol`, `media-address`). */
export function canonicalKey(key: string): string {
  if (SCHEMA_KEYS.has(key)) return key
  const spaced = key.replaceAll('-', ' ')
  if (SCHEMA_KEYS.has(spaced)) return spaced
  const hyphened = key.replaceAll(' ', '-')
  if (SCHEMA_KEYS.has(hyphened)) return hyphened
  return key
}

const normFlag = (f: string) => f.replaceAll(' ', '-')

/** Splits one datagram into cookie and dictionary. Throws `SBC_ERR_NG_FRAMING` / bencode errors. */
export function decodeNgDatagram(datagram: Uint8Array): { cookie: string; dict: BencodeDict } {
  const buf = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength)
  const space = buf.indexOf(0x20)
  if (space <= 0 || space > MAX_COOKIE) throw new NgError(NgErrorCode.ngFraming, 'NG datagram has no cookie')
  const cookie = buf.toString('latin1', 0, space)
  if (!/^[\x21-\x7e]+$/.test(cookie))
    throw new NgError(NgErrorCode.ngFraming, 'NG cookie is not printable ASCII')
  let body = buf.subarray(space + 1)
  // Some clients append a newline; tolerate trailing whitespace after the dictionary.
  while (body.length > 0 && (body[body.length - 1] === 0x0a || body[body.length - 1] === 0x0d)) {
    body = body.subarray(0, body.length - 1)
  }
  const value = bdecode(body)
  if (!isDict(value)) throw new NgError(NgErrorCode.ngFraming, 'NG message body is not a dictionary')
  return { cookie, dict: value }
}

/** Frames a dictionary with its cookie. */
export function encodeNgDatagram(cookie: string, dict: object): Buffer {
  if (cookie.length === 0 || cookie.length > MAX_COOKIE || !/^[\x21-\x7e]+$/.test(cookie)) {
    throw new NgError(NgErrorCode.ngFraming, `invalid NG cookie '${cookie.slice(0, 32)}'`)
  }
  return Buffer.concat([Buffer.from(`${cookie} `, 'latin1'), bencode(dict)])
}

function isDict(v: BencodeValue | undefined): v is BencodeDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v)
}

/**
 * Validates and normalises a request dictionary. Unknown keys, flags and enum values are kept out of
 * the typed request's meaning and reported in `warnings`; missing mandatory keys, wrong types and
 * unknown commands throw `SBC_ERR_NG_INVALID` (answered with `result: error`).
 */
export function parseNgRequest(cookie: string, dict: BencodeDict): ParsedNgRequest {
  const warnings: string[] = []
  // Null-prototype, like the decoder's dictionaries: on a plain object a peer's `__proto__` key would
  // set the prototype instead of a member (a dictionary there lent the request a `command` the schema
  // then found; a byte string made `length` a getter-only accessor, and its assignment threw a
  // TypeError that went out as `Internal error`).
  const out: Record<string, unknown> = Object.create(null)
  for (const [k, v] of Object.entries(dict)) {
    const key = canonicalKey(k)
    if (Object.hasOwn(out, key)) throw new NgError(NgErrorCode.ngInvalid, `key '${key}' given twice`)
    out[key] = v
  }
  const command = out.command
  if (typeof command !== 'string') throw new NgError(NgErrorCode.ngInvalid, 'No command given')
  if (!(NgCommands as readonly string[]).includes(command)) {
    throw new NgError(NgErrorCode.ngInvalid, `Unrecognized command '${command.slice(0, 64)}'`)
  }
  const schema = REQUEST_SCHEMAS[command as NgCommand]
  foldFlags(out, warnings)
  if (!Value.Check(schema, out)) {
    const first = Value.Errors(schema, out).First()
    const where = first?.path ? first.path.slice(1).replaceAll('~1', '/') : ''
    throw new NgError(
      NgErrorCode.ngInvalid,
      `Invalid '${command}' request: ${where || 'message'}: ${first?.message ?? 'invalid'}`,
    )
  }
  for (const key of Object.keys(out)) {
    if (!Object.hasOwn(schema.properties, key)) warnings.push(`Unknown key '${key}' ignored`)
  }
  for (const [key, allowed] of Object.entries(KNOWN_VALUES)) {
    const v = (out as Record<string, unknown>)[key]
    for (const item of Array.isArray(v) ? v : v === undefined ? [] : [v]) {
      if (typeof item === 'string' && !allowed.includes(normFlag(item)) && !allowed.includes(item)) {
        warnings.push(`Unknown '${key}' value '${item}' ignored`)
      }
    }
  }
  return { cookie, request: out as NgRequest, warnings }
}

/** Folds prefixed flags into their keys and warns about unknown ones, like rtpengine's flag parser. */
function foldFlags(out: Record<string, unknown>, warnings: string[]): void {
  const flags = out.flags
  if (!Array.isArray(flags)) return
  const kept: string[] = []
  // A key already given with a value of the wrong type keeps it, for the schema to refuse: folding a
  // flag into it used to replace it (`SDES: 'x'` and `SDES-off` became `SDES: ['off']`), so the same
  // wrong value was refused or accepted depending on the flags beside it.
  const foldable = (v: unknown) => v === undefined || Array.isArray(v)
  const push = (key: string, value: string) => {
    if (foldable(out[key])) out[key] = [...((out[key] as unknown[] | undefined) ?? []), value]
  }
  for (const f of flags) {
    if (typeof f !== 'string') {
      kept.push(f as string) // left for the schema to reject
      continue
    }
    const n = normFlag(f)
    if (n.startsWith('SDES-')) push('SDES', n.slice(5))
    else if (n.startsWith('replace-')) push('replace', n.slice(8))
    else if (n.startsWith('rtcp-mux-')) push('rtcp-mux', n.slice(9))
    else if (n.startsWith('codec-')) {
      const op = CODEC_OPS.find((o) => n.startsWith(`codec-${o}-`))
      if (op) {
        const given = out.codec
        const isDict =
          typeof given === 'object' && given !== null && !Array.isArray(given) && !Buffer.isBuffer(given)
        const codec = (isDict ? given : {}) as Record<string, unknown>
        if ((given === undefined || isDict) && foldable(codec[op])) {
          const list = (codec[op] as unknown[] | undefined) ?? []
          out.codec = { ...codec, [op]: [...list, n.slice(`codec-${op}-`.length)] }
        }
      } else {
        warnings.push(`Unknown flag '${f}' ignored`)
        kept.push(f)
      }
    } else {
      if (!KNOWN_FLAGS.has(n)) warnings.push(`Unknown flag '${f}' ignored`)
      kept.push(n)
    }
  }
  out.flags = kept
}

/** Builds the error reply rtpengine sends: only `result` and `error-reason`. */
export function ngErrorResponse(reason: string): NgResponse {
  return { result: 'error', 'error-reason': reason }
}

/** Whether a decoded dictionary is a valid NG response. */
export function parseNgResponse(dict: BencodeDict): NgResponse {
  if (!Value.Check(NgResponse, dict)) {
    throw new NgError(
      NgErrorCode.ngInvalid,
      `invalid NG response: ${Value.Errors(NgResponse, dict).First()?.message ?? ''}`,
    )
  }
  return dict as NgResponse
}

/** Re-exported so callers can tell decoding errors apart without importing bencode. */
export { BencodeError }
