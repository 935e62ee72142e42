import { SipParseError, SipParseReason } from '../../errors.ts'
import { ascii, bytesAt, HOST, scanQuoted, scanToken, skipWs, TOKEN } from '../scan.ts'

/**
 * An ordered list of `;name[=value]` parameters (RFC 3261 §25.1 generic-param). Order and spelling
 * are kept so that an edited header re-serialises its untouched parameters as they came. A `null`
 * value is a parameter without `=`. Quoted values keep their quotes.
 */
export type Params = Array<[name: string, value: string | null]>

/** The value of parameter `name` (case-insensitive), `null` if present without value, else undefined. */
export function getParam(params: Params, name: string): string | null | undefined {
  // Spelled as asked (the usual case, and the interned names parseParamsInto returns) first; a
  // case-insensitive comparison only for names of the same length.
  let lower: string | undefined
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!
    const n = p[0]
    if (n === name) return p[1]
    if (n.length !== name.length) continue
    lower ??= name.toLowerCase()
    if (n.toLowerCase() === lower) return p[1]
  }
  return undefined
}

/** Whether parameter `name` is present (case-insensitive). */
export function hasParam(params: Params, name: string): boolean {
  return getParam(params, name) !== undefined
}

/** Sets parameter `name` in place, replacing an existing one (keeping its position) or appending. */
export function setParam(params: Params, name: string, value: string | null): void {
  const lower = name.toLowerCase()
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!
    if (p[0].toLowerCase() === lower) {
      p[1] = value
      return
    }
  }
  params.push([name, value])
}

/** Removes every parameter called `name` (case-insensitive). */
export function deleteParam(params: Params, name: string): void {
  const lower = name.toLowerCase()
  for (let i = params.length - 1; i >= 0; i--) if (params[i]![0].toLowerCase() === lower) params.splice(i, 1)
}

/** `;a=b;c` for the given list. */
export function stringifyParams(params: Params): string {
  let out = ''
  for (let i = 0; i < params.length; i++) {
    const [n, v] = params[i]!
    out += v === null ? `;${n}` : `;${n}=${v}`
  }
  return out
}

function bad(header: string, what: string): SipParseError {
  return new SipParseError(SipParseReason.BadHeaderValue, `Malformed ${header} ${what}`, { header })
}

const TAG = ascii('tag')
const RPORT = ascii('rport')
const BRANCH = ascii('branch')
const RECEIVED = ascii('received')

// Parameter names on every message, returned without allocating a slice.
function paramName(s: string, b: Uint8Array, i: number, ne: number): string {
  switch (ne - i) {
    case 3:
      if (bytesAt(b, i, TAG)) return 'tag'
      break
    case 5:
      if (bytesAt(b, i, RPORT)) return 'rport'
      break
    case 6:
      if (bytesAt(b, i, BRANCH)) return 'branch'
      break
    case 8:
      if (bytesAt(b, i, RECEIVED)) return 'received'
  }
  return s.slice(i, ne)
}

// Where the last parseParamsAt() stopped: a second result without allocating a pair for it.
let stop = 0

/** The index where the last {@link parseParamsAt} stopped. @internal */
export function paramsStop(): number {
  return stop
}

// Parameters are collected here and copied out at their exact count: a list grown by push from
// empty gets 16 slots on the first push, most of a header's parse allocation for one or two
// parameters. Parsing is synchronous and does not re-enter, so one scratch list serves every call.
const SCRATCH: Params = []

/**
 * Parses generic parameters starting at `i` (which may be whitespace before the first `;`) and
 * stops at the first character that cannot continue them (end, `,`, `>`...). LWS is allowed around
 * `;` and `=` (RFC 3261 §25.1 SEMI and EQUAL). Returns them; {@link paramsStop} is then the index
 * where it stopped. `b` holds the octets of `s` ({@link octets}). @internal
 */
export function parseParamsAt(s: string, b: Uint8Array, i: number, end: number, header: string): Params {
  let n = 0
  try {
    for (;;) {
      const j = skipWs(b, i, end)
      if (j >= end || b[j] !== 59) {
        stop = j
        break
      }
      i = skipWs(b, j + 1, end)
      const ne = scanToken(b, i, end)
      if (ne === i) throw bad(header, 'parameter (empty name)')
      const name = paramName(s, b, i, ne)
      i = skipWs(b, ne, end)
      if (i < end && b[i] === 61) {
        i = skipWs(b, i + 1, end)
        let ve: number
        if (b[i] === 34) {
          ve = scanQuoted(b, i, end)
          if (ve < 0) throw bad(header, `parameter ${name} (unterminated quote)`)
        } else {
          ve = i
          while (ve < end && VALUE[b[ve]!] === 1) ve++
          if (ve === i) throw bad(header, `parameter ${name} (empty value)`)
        }
        SCRATCH[n++] = [name, s.slice(i, ve)]
        i = ve
      } else {
        SCRATCH[n++] = [name, null]
        // Do not swallow whitespace that belongs to the caller unless another parameter follows.
        i = ne
      }
    }
    if (n === 0) return []
    return SCRATCH.slice(0, n)
  } finally {
    // The scratch list must not keep a message's strings alive.
    for (let k = 0; k < n; k++) SCRATCH[k] = NO_PARAM
  }
}
const NO_PARAM: [string, string | null] = ['', null]

// gen-value = token / host / quoted-string (RFC 3261 §25.1): the unquoted characters.
const VALUE = TOKEN.map((t, c) => t | HOST[c]!)
