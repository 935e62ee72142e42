import type { SipRequest } from '../../../lib/sip/message/message.ts'
import type { CompiledPipeline } from './compiled.ts'
import { numberOf } from './route.ts'
import type { Transport } from './types.ts'

/**
 * The host the SBC presents toward `group` (Contact, Via sent-by, From on OPTIONS): the interface's
 * advertised FQDN, else its advertised (public, NAT) address, else its bind address. The compiler
 * already folds `nat` into the advertised data of interfaces on the NAT'd network.
 */
export function advertisedHost(p: CompiledPipeline, group: string): string {
  const a = p.group(group).iface
  return a.advertised.fqdn ?? a.advertised.address ?? a.bindAddress
}

/** The address (never a name) the SBC presents toward `group`: advertised address, else bind address. */
export function advertisedAddress(p: CompiledPipeline, group: string): string {
  const a = p.group(group).iface
  return a.advertised.address ?? a.bindAddress
}

/**
 * The Contact URI toward `group` for `transport`: the group's `contactUser` (none when null) at the
 * advertised host and the interface's listener port for that transport (the first listener when
 * none matches); `;transport=` for TCP and TLS.
 */
export function contactUri(p: CompiledPipeline, group: string, transport: Transport): string {
  const g = p.group(group)
  const listener = g.iface.listeners.find((l) => l.transport === transport) ?? g.iface.listeners[0]
  let host = advertisedHost(p, group)
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`
  const user = g.config.contactUser === null ? '' : `${g.config.contactUser}@`
  const port = listener === undefined ? '' : `:${listener.port}`
  const param = transport === 'UDP' ? '' : `;transport=${transport.toLowerCase()}`
  return `sip:${user}${host}${port}${param}`
}

/**
 * Applies the target group's profile `identity` to an out-of-dialog request about to be sent to it.
 * assertedIdentity: Add → a P-Asserted-Identity `<sip:{From user}@{advertised host}>` when none is
 * present (and the From URI has a user); Remove → P-Asserted-Identity and P-Preferred-Identity
 * removed; Passthrough → unchanged. privacy: Remove → Privacy removed; Restrict → `Privacy: id`
 * when absent (RFC 3325 §9.3); Passthrough → unchanged.
 */
export function applyIdentity(p: CompiledPipeline, group: string, req: SipRequest): void {
  const { identity } = p.group(group).profile
  if (identity.assertedIdentity === 'Remove') {
    req.removeHeader('p-asserted-identity')
    req.removeHeader('p-preferred-identity')
  } else if (identity.assertedIdentity === 'Add' && !req.hasHeader('p-asserted-identity')) {
    let user: string | undefined
    try {
      user = numberOf(req.from?.uri)
    } catch {
      user = undefined
    }
    if (user !== undefined && user !== '') {
      let host = advertisedHost(p, group)
      if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`
      req.addHeader('P-Asserted-Identity', `<sip:${user}@${host}>`)
    }
  }
  if (identity.privacy === 'Remove') req.removeHeader('privacy')
  else if (identity.privacy === 'Restrict' && !req.hasHeader('privacy')) req.addHeader('Privacy', 'id')
}
