import { SipParseError, SipParseReason } from '../../errors.ts'
import { octets, scanToken, skipWs } from '../scan.ts'
import type { Params } from './params.ts'
import { paramsStop, parseParamsAt, stringifyParams } from './params.ts'

/** A media type (RFC 3261 §20.15): `type/subtype;params`, as written. */
export interface ContentType {
  type: string
  subtype: string
  params: Params
}

function bad(): SipParseError {
  return new SipParseError(SipParseReason.BadHeaderValue, 'Malformed Content-Type', {
    header: 'content-type',
  })
}

/** Parses `m-type SLASH m-subtype *(SEMI m-parameter)`. */
export function parseContentType(s: string): ContentType {
  const b = octets(s)
  const end = s.length
  let i = skipWs(b, 0, end)
  let e = scanToken(b, i, end)
  if (e === i) throw bad()
  const type = s.slice(i, e)
  i = skipWs(b, e, end)
  if (b[i] !== 47) throw bad()
  i = skipWs(b, i + 1, end)
  e = scanToken(b, i, end)
  if (e === i) throw bad()
  const subtype = s.slice(i, e)
  const params = parseParamsAt(s, b, e, end, 'Content-Type')
  i = paramsStop()
  if (i !== end) throw bad()
  return { type, subtype, params }
}

/** The canonical text. */
export function stringifyContentType(c: ContentType): string {
  return `${c.type}/${c.subtype}${stringifyParams(c.params)}`
}

/** `type/subtype` in lower case, for comparisons (media types are case-insensitive). */
export function mediaType(c: ContentType): string {
  return `${c.type}/${c.subtype}`.toLowerCase()
}
