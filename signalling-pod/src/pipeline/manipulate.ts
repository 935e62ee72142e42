import { checkManipulation, manipulationVariables } from '../../../lib/config/compile/manipulation.ts'
import type { GroupConfig, InterfaceConfig, SbcConfig } from '../../../lib/config/model.ts'
import {
  type NameAddr,
  parseNameAddrList,
  stringifyNameAddr,
} from '../../../lib/sip/message/headers/name-addr.ts'
import type { SipRequest, SipResponse } from '../../../lib/sip/message/message.ts'
import { ManipulationError } from './errors.ts'

/** A manipulation rule, checked, with its value's variables substituted. */
export interface CompiledManipulation {
  name: string
  direction: 'Outbound' | 'Inbound'
  /** Upper-case methods; null for any. Responses are matched on their CSeq method. */
  methods: ReadonlySet<string> | null
  /** Lower-case header key, or `request-uri`. */
  header: string
  /** How the header is written when added (as configured). */
  headerName: string
  action: 'Set' | 'Add' | 'Remove' | 'ReplaceHost' | 'SetIfAbsent'
  value: string | null
}

/**
 * Checks the group's manipulation rules and substitutes variables (`checkManipulation`, the same
 * checks the config compiler reports on the IPGroup); every problem goes to `problems`, prefixed
 * with the group and rule.
 */
export function compileManipulations(
  g: GroupConfig,
  iface: InterfaceConfig,
  nat: SbcConfig['nat'],
  problems: string[],
): CompiledManipulation[] {
  const vars = manipulationVariables(iface, nat)
  const out: CompiledManipulation[] = []
  for (const m of g.manipulations) {
    const checked = checkManipulation(m, vars)
    if ('problems' in checked) {
      for (const why of checked.problems) problems.push(`IPGroup ${g.name}: manipulation ${m.name}: ${why}`)
      continue
    }
    out.push({
      name: m.name,
      direction: m.direction,
      methods: m.methods.length === 0 ? null : new Set(m.methods.map((x) => x.toUpperCase())),
      header: checked.header,
      headerName: m.header,
      action: m.action,
      value: checked.value,
    })
  }
  return out
}

function methodOf(msg: SipRequest | SipResponse): string | undefined {
  if (msg.kind === 'request') return msg.method
  try {
    return msg.cseq?.method
  } catch {
    return undefined
  }
}

function replaceHostIn(list: NameAddr[], host: string): NameAddr[] {
  return list.map((na) =>
    na.uri.kind === 'sip'
      ? { displayName: na.displayName, uri: { ...na.uri, host }, params: na.params }
      : { displayName: na.displayName, uri: na.uri, params: na.params },
  )
}

function replaceHost(rule: CompiledManipulation, msg: SipRequest | SipResponse): void {
  const host = rule.value!
  if (rule.header === 'request-uri') {
    if (msg.kind === 'request' && msg.uri.kind === 'sip') msg.uri = { ...msg.uri, host }
    return
  }
  const lines = msg.headerValues(rule.header)
  if (lines.length === 0) return
  const written: string[] = []
  for (const line of lines) {
    if (rule.header === 'contact' && line.trim() === '*') return // REGISTER removal: nothing to change
    let list: NameAddr[]
    try {
      list = parseNameAddrList(line, rule.headerName)
    } catch (e) {
      throw new ManipulationError(rule.name, `cannot parse ${rule.headerName}: ${(e as Error).message}`, {
        cause: e,
      })
    }
    const text = replaceHostIn(list, host).map(stringifyNameAddr).join(', ')
    try {
      parseNameAddrList(text, rule.headerName)
    } catch (e) {
      throw new ManipulationError(rule.name, `would write an invalid ${rule.headerName}`, { cause: e })
    }
    written.push(text)
  }
  const single = rule.header === 'from' || rule.header === 'to'
  if (single && written.length !== 1)
    throw new ManipulationError(rule.name, `${lines.length} ${rule.headerName} lines`)
  const name = msg.headerFields.find((f) => f.key === rule.header)?.name ?? rule.headerName
  msg.setHeader(name, written.join(', '))
}

/**
 * Applies, in configuration order, the rules of `direction` whose methods include the message's
 * (its CSeq method for a response). Set replaces every line, Add appends one, Remove deletes all,
 * SetIfAbsent adds only when missing, ReplaceHost rewrites the host of every SIP URI of the header
 * (tel and other URIs are left alone). Throws `ManipulationError` instead of writing invalid SIP;
 * rules before the failing one stay applied.
 */
export function applyManipulations(
  rules: readonly CompiledManipulation[],
  direction: 'Outbound' | 'Inbound',
  msg: SipRequest | SipResponse,
): number {
  let applied = 0
  const method = methodOf(msg)
  for (const rule of rules) {
    if (rule.direction !== direction) continue
    if (rule.methods !== null && (method === undefined || !rule.methods.has(method))) continue
    switch (rule.action) {
      case 'Set':
        msg.setHeader(rule.headerName, rule.value!)
        break
      case 'Add':
        msg.addHeader(rule.headerName, rule.value!)
        break
      case 'Remove':
        msg.removeHeader(rule.header)
        break
      case 'SetIfAbsent':
        if (msg.hasHeader(rule.header)) continue
        msg.addHeader(rule.headerName, rule.value!)
        break
      case 'ReplaceHost':
        if (rule.header === 'request-uri' && msg.kind !== 'request') continue
        replaceHost(rule, msg)
        break
    }
    applied++
  }
  return applied
}

interface HasGroups {
  readonly groups: ReadonlyMap<string, { manipulations: readonly CompiledManipulation[] }>
}

/**
 * The group's rules; none for the unclassified caller (`''`) or a group a later configuration
 * generation removed while its calls go on (their messages are relayed as they are).
 */
function rulesOf(p: HasGroups, group: string): readonly CompiledManipulation[] {
  return p.groups.get(group)?.manipulations ?? []
}

/**
 * Applies the group's Outbound rules to a message about to be sent toward it — every request and
 * response the B2BUA relays or originates in a call (docs/b2bua.md, "Manipulation and identity");
 * returns how many applied.
 */
export function manipulateOutbound(p: HasGroups, group: string, msg: SipRequest | SipResponse): number {
  const rules = rulesOf(p, group)
  return rules.length === 0 ? 0 : applyManipulations(rules, 'Outbound', msg)
}

/**
 * Applies the group's Inbound rules to a message received from it — the initial request, in-dialog
 * requests and the responses it sends — after the B2BUA took the dialog's data from it; returns how
 * many applied.
 */
export function manipulateInbound(p: HasGroups, group: string, msg: SipRequest | SipResponse): number {
  const rules = rulesOf(p, group)
  return rules.length === 0 ? 0 : applyManipulations(rules, 'Inbound', msg)
}
