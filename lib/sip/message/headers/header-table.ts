import { parseCallId } from './call-id.ts'
import type { ContentType } from './content-type.ts'
import { parseContentType, stringifyContentType } from './content-type.ts'
import type { CSeq } from './cseq.ts'
import { parseCSeq, stringifyCSeq } from './cseq.ts'
import type { NameAddr } from './name-addr.ts'
import { parseNameAddr, parseNameAddrList, stringifyNameAddr } from './name-addr.ts'
import { parseContentLength, parseExpires, parseMaxForwards } from './numeric.ts'
import { parseTokenList, stringifyTokenList } from './token-list.ts'
import type { Via } from './via.ts'
import { parseVia, stringifyVia } from './via.ts'

/**
 * The parsed type of each header the library understands, by canonical key. List headers (RFC
 * 3261 §7.3.1: several values per line and per header) parse to arrays holding the values of every
 * line in order.
 */
export interface HeaderTypes {
  via: Via[]
  from: NameAddr
  to: NameAddr
  contact: NameAddr[]
  route: NameAddr[]
  'record-route': NameAddr[]
  'reply-to': NameAddr
  'refer-to': NameAddr
  'p-asserted-identity': NameAddr[]
  cseq: CSeq
  'call-id': string
  'max-forwards': number
  'content-length': number
  'content-type': ContentType
  expires: number
  'min-expires': number
  allow: string[]
  supported: string[]
  require: string[]
  'proxy-require': string[]
  unsupported: string[]
}

/** A canonical header key with a parser. */
export type KnownHeader = keyof HeaderTypes

/** How to parse and write one header. */
export interface HeaderDefinition<T> {
  /** True when values of several lines concatenate (comma-separated lists). */
  readonly list: boolean
  /** Parses one line's value; throws `SipParseError`. */
  readonly parse: (value: string) => T
  /** Writes a value (a list header writes its elements joined by `, `). */
  readonly stringify: (value: T) => string
}

const nameAddrList = (header: string): HeaderDefinition<NameAddr[]> => ({
  list: true,
  parse: (v) => parseNameAddrList(v, header),
  stringify: (v) => v.map(stringifyNameAddr).join(', '),
})
const tokenList = (header: string): HeaderDefinition<string[]> => ({
  list: true,
  parse: (v) => parseTokenList(v, header),
  stringify: stringifyTokenList,
})
const single = <T>(parse: (v: string) => T, stringify: (v: T) => string): HeaderDefinition<T> => ({
  list: false,
  parse,
  stringify,
})
const num = (parse: (v: string) => number) => single(parse, String)

/** The per-header table: parse and matching stringify (drachtio/Kamailio style, STYLE §5.6). */
export const HEADER_TABLE: { readonly [K in KnownHeader]: HeaderDefinition<HeaderTypes[K]> } = {
  via: { list: true, parse: parseVia, stringify: (v) => v.map(stringifyVia).join(', ') },
  from: single((v) => parseNameAddr(v, 'From'), stringifyNameAddr),
  to: single((v) => parseNameAddr(v, 'To'), stringifyNameAddr),
  // RFC 3261 §20.10: "Contact: *" (REGISTER removal) parses to an empty list; see isContactStar.
  contact: {
    list: true,
    parse: (v) => (v === '*' ? [] : parseNameAddrList(v, 'Contact')),
    stringify: (v) => (v.length === 0 ? '*' : v.map(stringifyNameAddr).join(', ')),
  },
  route: nameAddrList('Route'),
  'record-route': nameAddrList('Record-Route'),
  'reply-to': single((v) => parseNameAddr(v, 'Reply-To'), stringifyNameAddr),
  'refer-to': single((v) => parseNameAddr(v, 'Refer-To'), stringifyNameAddr),
  'p-asserted-identity': nameAddrList('P-Asserted-Identity'),
  cseq: single(parseCSeq, stringifyCSeq),
  'call-id': single(parseCallId, String),
  'max-forwards': num(parseMaxForwards),
  'content-length': num(parseContentLength),
  'content-type': single(parseContentType, stringifyContentType),
  expires: num(parseExpires),
  'min-expires': num(parseExpires),
  allow: tokenList('Allow'),
  supported: tokenList('Supported'),
  require: tokenList('Require'),
  'proxy-require': tokenList('Proxy-Require'),
  unsupported: tokenList('Unsupported'),
}

/** Whether the key has an entry in {@link HEADER_TABLE}. */
export function isKnownHeader(key: string): key is KnownHeader {
  return Object.hasOwn(HEADER_TABLE, key)
}
