import { SipParseError, SipParseReason } from '../../errors.ts'
import { scanToken, skipWs } from '../scan.ts'
import type { Params } from './params.ts'
import { parseParamsInto, stringifyParams } from './params.ts'

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
  const end = s.length
  let i = skipWs(s, 0, end)
  let e = scanToken(s, i, end)
  if (e === i) throw bad()
  const type = s.slice(i, e)
  i = skipWs(s, e, end)
  if (s.charCodeAt(i) !== 47) throw bad()
  i = skipWs(s, i + 1, end)
  e = scanToken(s, i, end)
  if (e === i) throw bad()
  const subtype = s.slice(i, e)
  const params: Params = []
  i = parseParamsInto(s, e, end, params, 'Content-Type')
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
