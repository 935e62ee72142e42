import type { GroupConfig, InterfaceConfig, SbcConfig } from '../../../lib/config/model.ts'
import type { SipRequest, SipResponse } from '../../../lib/sip/message/message.ts'

/** A manipulation rule, checked and with its value's variables substituted. */
export interface CompiledManipulation {
  name: string
  direction: 'Outbound' | 'Inbound'
  methods: ReadonlySet<string> | null
  /** Lower-case header key, or `request-uri`. */
  header: string
  action: 'Set' | 'Add' | 'Remove' | 'ReplaceHost' | 'SetIfAbsent'
  value: string | null
}

export function compileManipulations(
  g: GroupConfig,
  _iface: InterfaceConfig,
  _nat: SbcConfig['nat'],
  _problems: string[],
): CompiledManipulation[] {
  return g.manipulations.map((m) => ({
    name: m.name,
    direction: m.direction,
    methods: m.methods.length === 0 ? null : new Set(m.methods),
    header: m.header.toLowerCase(),
    action: m.action,
    value: m.value,
  }))
}

export function applyManipulations(
  _rules: readonly CompiledManipulation[],
  _direction: 'Outbound' | 'Inbound',
  _msg: SipRequest | SipResponse,
): void {}

/** Applies the group's Outbound rules to a message about to be sent toward it. */
export function manipulateOutbound(
  p: { group(name: string): { manipulations: CompiledManipulation[] } },
  group: string,
  msg: SipRequest | SipResponse,
): void {
  applyManipulations(p.group(group).manipulations, 'Outbound', msg)
}

/** Applies the group's Inbound rules to a message received from it. */
export function manipulateInbound(
  p: { group(name: string): { manipulations: CompiledManipulation[] } },
  group: string,
  msg: SipRequest | SipResponse,
): void {
  applyManipulations(p.group(group).manipulations, 'Inbound', msg)
}
