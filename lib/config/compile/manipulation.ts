import { headerKey } from '../../sip/message/headers/header-names.ts'
import { HEADER_TABLE, isKnownHeader } from '../../sip/message/headers/header-table.ts'
import { parseUri } from '../../sip/uri/uri.ts'
import type { GroupConfig, InterfaceConfig, SbcConfig } from '../model.ts'

/** One manipulation rule of an IP group, as the snapshot carries it. */
export type ManipulationConfig = GroupConfig['manipulations'][number]

/** A manipulation rule that passed {@link checkManipulation}: its header key and final value. */
export interface CheckedManipulation {
  /** Lower-case header key (compact forms expanded), or `request-uri`. */
  header: string
  /** The value with its variables substituted; a bare host for ReplaceHost; null for Remove. */
  value: string | null
}

/** Headers the transaction and dialog layers own: no manipulation may touch them. */
const FORBIDDEN = new Set([
  'via',
  'call-id',
  'cseq',
  'content-length',
  'content-type',
  'route',
  'record-route',
])

/** Headers carrying name-addrs whose host ReplaceHost may change; only ReplaceHost may touch From/To/Contact. */
const URI_HEADERS = new Set([
  'request-uri',
  'from',
  'to',
  'contact',
  'p-asserted-identity',
  'p-preferred-identity',
  'refer-to',
  'referred-by',
  'reply-to',
  'diversion',
])
const HOST_ONLY = new Set(['request-uri', 'from', 'to', 'contact'])

/**
 * Headers a message must carry, with the methods whose requests (or, for RSeq, reliable provisional
 * responses) need them; null for every request. Remove would send a malformed message.
 */
const MANDATORY: Record<string, { methods: readonly string[] | null; rfc: string }> = {
  'max-forwards': { methods: null, rfc: 'RFC 3261 §8.1.1' },
  event: { methods: ['SUBSCRIBE', 'NOTIFY', 'PUBLISH'], rfc: 'RFC 6665 §8.2.1, RFC 3903' },
  'subscription-state': { methods: ['NOTIFY'], rfc: 'RFC 6665 §4.1.3' },
  rack: { methods: ['PRACK'], rfc: 'RFC 3262 §7.2' },
  rseq: { methods: ['INVITE'], rfc: 'RFC 3262 §7.1' },
  'refer-to': { methods: ['REFER'], rfc: 'RFC 3515 §2.4.1' },
}

/** The variables a value may use, per group (its interface, and the SBC's NAT settings). */
export function manipulationVariables(
  iface: InterfaceConfig,
  nat: SbcConfig['nat'],
): Record<string, string | null> {
  return {
    'sbc.fqdn': nat?.fqdn ?? iface.advertised.fqdn,
    'sbc.publicAddress': nat?.publicAddress ?? iface.advertised.address,
    'interface.advertisedHost': iface.advertised.fqdn ?? iface.advertised.address ?? iface.bindAddress,
    'interface.advertisedAddress': iface.advertised.address ?? iface.bindAddress,
  }
}

/** The value with `${name}` replaced, or every problem with its variables. */
function substitute(value: string, vars: Record<string, string | null>): string | string[] {
  const problems: string[] = []
  const out = value.replace(/\$\{([^}]*)\}/g, (_m, name: string) => {
    const v = vars[name]
    if (v === undefined) problems.push(`unknown variable \${${name}}`)
    else if (v === null) problems.push(`variable \${${name}} has no value in this configuration`)
    else return v
    return ''
  })
  if (out.includes('${')) problems.push('unterminated variable')
  return problems.length > 0 ? problems : out
}

function hasControl(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i)
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true
  }
  return false
}

/** Validates a host for ReplaceHost; returns it in URI form (IPv6 bracketed) or undefined. */
export function uriHost(host: string): string | undefined {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  try {
    const u = parseUri(`sip:${h}`)
    if (u.kind !== 'sip' || u.port !== undefined || u.params.length > 0 || u.headers.length > 0)
      return undefined
    return u.host
  } catch {
    return undefined
  }
}

/**
 * Checks one manipulation rule against what the SIP layers accept, with the group's variables
 * (`manipulationVariables`): the header name is a token; Via, Call-ID, CSeq, Content-Length,
 * Content-Type, Route and Record-Route are owned by the SIP layers; From/To/Contact/Request-URI
 * take only ReplaceHost; ReplaceHost needs a URI-bearing header and a host; Add on a header that may
 * appear once (Max-Forwards, Expires, ...) would write a second line the next hop refuses (RFC 3261
 * §7.3); Remove may not take a header its messages must carry (Max-Forwards; Event, RAck, RSeq,
 * Refer-To, Subscription-State for their methods); a value must be present (except for Remove), known variables only, free of control
 * characters and valid for a known header. Returns the rule's header key and value, or the problems
 * (without the rule's name). The config compiler reports them on the IPGroup (Accepted=False);
 * signalling pods check again when they build their pipeline.
 */
export function checkManipulation(
  m: ManipulationConfig,
  vars: Record<string, string | null>,
): CheckedManipulation | { problems: string[] } {
  const lower = m.header.toLowerCase()
  const key = lower === 'request-uri' || lower === 'r-uri' ? 'request-uri' : headerKey(m.header)
  if (key === undefined) return { problems: [`${JSON.stringify(m.header)} is not a header name`] }
  if (FORBIDDEN.has(key))
    return { problems: [`${m.header} is owned by the SIP layers and cannot be manipulated`] }
  if (HOST_ONLY.has(key) && m.action !== 'ReplaceHost')
    return { problems: [`only ReplaceHost may change ${m.header}`] }
  if (m.action === 'ReplaceHost' && !URI_HEADERS.has(key))
    return { problems: [`ReplaceHost needs a URI-bearing header, not ${m.header}`] }
  if (m.action === 'Add' && isKnownHeader(key) && !HEADER_TABLE[key].list)
    return {
      problems: [`Add would write a second ${m.header}, which may appear only once; use Set or SetIfAbsent`],
    }
  if (m.action === 'Remove') {
    const need = MANDATORY[key]
    const hit =
      need === undefined
        ? []
        : need.methods === null
          ? ['every request']
          : m.methods.length === 0
            ? need.methods
            : need.methods.filter((x) => m.methods.includes(x))
    if (hit.length > 0)
      return {
        problems: [
          `Remove would send ${hit.join('/')} without ${m.header}, which it must carry (${need!.rfc})`,
        ],
      }
    return { header: key, value: null }
  }
  if (m.value === null || m.value === '') return { problems: [`${m.action} needs a value`] }
  const value = substitute(m.value, vars)
  if (typeof value !== 'string') return { problems: value }
  if (hasControl(value)) return { problems: ['value holds control characters'] }
  if (m.action === 'ReplaceHost') {
    const host = uriHost(value)
    if (host === undefined) return { problems: [`${JSON.stringify(value)} is not a host name or IP address`] }
    return { header: key, value: host }
  }
  if (isKnownHeader(key)) {
    try {
      HEADER_TABLE[key].parse(value)
    } catch (e) {
      return {
        problems: [`${JSON.stringify(value)} is not a valid ${m.header} (${(e as Error).message})`],
      }
    }
  }
  return { header: key, value }
}
