/**
 * Fixture builders for compiler tests, in the style of cert-manager's `test/unit/gen`:
 * `sipInterface('edge', withTransport('TLS'))`. Each builder returns a plain object as read from
 * YAML; modifiers edit it in place. Test-only, but kept next to the compiler so other suites
 * (operator, CLI) build the same objects.
 */
import { API_VERSION } from '../../api/v1alpha1/group.ts'
import type { KubeObject } from './objects.ts'

/** A fixture object with a spec we can edit freely. */
export type Fixture = KubeObject & {
  metadata: { name: string; namespace: string; [k: string]: unknown }
  spec: Record<string, unknown>
}
/** Edits a fixture. */
export type Mod = (o: Fixture) => void

/** The namespace fixtures live in. */
export const NS = 'lab'

function make(kind: string, name: string, spec: Record<string, unknown>, mods: readonly Mod[]): Fixture {
  const o: Fixture = { apiVersion: API_VERSION, kind, metadata: { name, namespace: NS }, spec }
  for (const m of mods) m(o)
  return o
}

/** A SessionBorderController. */
export const sbc = (name: string, ...mods: Mod[]) => make('SessionBorderController', name, {}, mods)

/** A MediaRealm on LAN 127.0.0.1, ports 40000-40099. */
export const mediaRealm = (name: string, ...mods: Mod[]) =>
  make(
    'MediaRealm',
    name,
    { network: 'LAN', bindAddress: '127.0.0.1', portRange: { min: 40000, max: 40099 } },
    mods,
  )

/** A SipInterface on LAN 127.0.0.1 UDP 5060 using realm `mr`. */
export const sipInterface = (name: string, ...mods: Mod[]) =>
  make(
    'SipInterface',
    name,
    {
      network: 'LAN',
      bindAddress: '127.0.0.1',
      listeners: [{ transport: 'UDP', port: 5060 }],
      mediaRealmRef: { name: 'mr' },
    },
    mods,
  )

/** An IPProfile with defaults. */
export const ipProfile = (name: string, ...mods: Mod[]) => make('IPProfile', name, {}, mods)

/** An IPGroup on interface `si` with profile `ipp` and one static UDP proxy. */
export const ipGroup = (name: string, ...mods: Mod[]) =>
  make(
    'IPGroup',
    name,
    {
      sipInterfaceRef: { name: 'si' },
      ipProfileRef: { name: 'ipp' },
      proxySet: { proxies: [{ address: '127.0.0.2', transport: 'UDP' }] },
    },
    mods,
  )

/** A RoutingRule with the given order that replies 200. */
export const routingRule = (name: string, order: number, ...mods: Mod[]) =>
  make('RoutingRule', name, { order, action: { reply: { code: 200 } } }, mods)

/** A v1 Secret with the given keys. */
export function secret(name: string, keys: readonly string[], type = 'Opaque'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NS },
    type,
    data: Object.fromEntries(keys.map((k) => [k, Buffer.from('lab-only').toString('base64')])),
  }
}

/** The smallest complete world: realm `mr`, interface `si`, profile `ipp`. */
export const base = (): KubeObject[] => [mediaRealm('mr'), sipInterface('si'), ipProfile('ipp')]

/** Sets a field of the spec by dotted path (`portRange.min`). */
export const withField =
  (path: string, value: unknown): Mod =>
  (o) => {
    const keys = path.split('.')
    let node: Record<string, unknown> = o.spec
    for (const k of keys.slice(0, -1)) {
      if (typeof node[k] !== 'object' || node[k] === null) node[k] = {}
      node = node[k] as Record<string, unknown>
    }
    node[keys.at(-1)!] = value
  }

/** Gives a SipInterface one listener of `transport` (TLS adds tls.secretRef `tls`). */
export const withTransport =
  (transport: 'UDP' | 'TCP' | 'TLS', port = transport === 'TLS' ? 5061 : 5060): Mod =>
  (o) => {
    o.spec.listeners = [{ transport, port }]
    if (transport === 'TLS') o.spec.tls = { secretRef: { name: 'tls' } }
  }

/** Adds a listener. */
export const withListener =
  (transport: 'UDP' | 'TCP' | 'TLS', port: number): Mod =>
  (o) => {
    ;(o.spec.listeners as unknown[]).push({ transport, port })
  }

/** Sets a port range. */
export const withPorts = (min: number, max: number) => withField('portRange', { min, max })

/** Routes to the given IP groups. */
export const routeTo =
  (...groups: string[]): Mod =>
  (o) => {
    o.spec.action = { route: { targets: groups.map((g) => ({ ipGroup: g })) } }
  }

/** Sets the match. */
export const matching = (match: Record<string, unknown>) => withField('match', match)

/** Sets metadata fields. */
export const withMeta =
  (meta: Record<string, unknown>): Mod =>
  (o) => {
    Object.assign(o.metadata, meta)
  }
