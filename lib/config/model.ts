import { type Static, type TSchema, Type } from '@sinclair/typebox'

/**
 * The compiled SBC configuration: one immutable snapshot with a generation, produced by
 * `compile()` from the custom resources and loaded by signalling and media pods. Every reference
 * is resolved to the name of an entry present in the same snapshot and every default is applied,
 * so pods never need the CRs. Secret *material* is not copied: entries name the Secret and key,
 * and pods read it from their mounted Secret (or `kube-sbc run` from its input files).
 */
export const SBC_CONFIG_SCHEMA_VERSION = 1

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])
const Name = Type.String({ minLength: 1, description: 'Object name (unique per kind within the snapshot).' })

/** A key of a Secret in the snapshot's namespace. */
export const SecretKeyRef = Type.Object({
  secret: Type.String({ minLength: 1 }),
  key: Type.String({ minLength: 1 }),
})
export type SecretKeyRef = Static<typeof SecretKeyRef>

/** A compiled string pattern; regexes are anchored (`^(?:…)$`) and known to compile. */
export const Pattern = Type.Object({
  kind: Type.Union([Type.Literal('prefix'), Type.Literal('exact'), Type.Literal('regex')]),
  value: Type.String(),
})
export type Pattern = Static<typeof Pattern>

const Network = Type.Union([Type.Literal('LAN'), Type.Literal('WAN')])
const Transport = Type.Union([Type.Literal('UDP'), Type.Literal('TCP'), Type.Literal('TLS')])

/** A media realm with its SDP address resolved. */
export const RealmConfig = Type.Object({
  name: Name,
  network: Network,
  bindAddress: Type.String({ description: '0.0.0.0 when the realm binds all addresses.' }),
  portRange: Type.Object({ min: Type.Integer(), max: Type.Integer() }),
  advertisedAddress: Nullable(
    Type.String({ description: 'SDP address; null means the address of the media pod.' }),
  ),
  maxSessions: Type.Integer({ minimum: 1 }),
})
export type RealmConfig = Static<typeof RealmConfig>

/** A SIP interface with TLS material references and public identity resolved. */
export const InterfaceConfig = Type.Object({
  name: Name,
  network: Network,
  bindAddress: Type.String(),
  listeners: Type.Array(Type.Object({ transport: Transport, port: Type.Integer() })),
  tls: Nullable(
    Type.Object({
      certificate: SecretKeyRef,
      privateKey: SecretKeyRef,
      clientCA: Nullable(SecretKeyRef),
      mutualAuth: Type.Boolean(),
      minVersion: Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')]),
      groups: Type.Array(Type.String()),
      cipherSuites: Type.Array(Type.String()),
      serverName: Nullable(Type.String()),
    }),
  ),
  advertised: Type.Object({ address: Nullable(Type.String()), fqdn: Nullable(Type.String()) }),
  mediaRealm: Type.String(),
  exposure: Type.Object({
    mode: Type.Union([Type.Literal('HostPort'), Type.Literal('Service')]),
    serviceType: Type.Union([
      Type.Literal('ClusterIP'),
      Type.Literal('NodePort'),
      Type.Literal('LoadBalancer'),
    ]),
    loadBalancerIP: Nullable(Type.String()),
  }),
})
export type InterfaceConfig = Static<typeof InterfaceConfig>

/** A codec with payload type, clock rate, channels and ptime resolved. */
export const CodecConfig = Type.Object({
  name: Type.String(),
  payloadType: Type.Integer({ minimum: 0, maximum: 127 }),
  clockRate: Type.Integer(),
  channels: Type.Integer(),
  ptime: Type.Integer(),
})
export type CodecConfig = Static<typeof CodecConfig>

/** An IP profile with every default applied. */
export const ProfileConfig = Type.Object({
  name: Name,
  srtp: Type.Object({
    mode: Type.Union([Type.Literal('Mandatory'), Type.Literal('Optional'), Type.Literal('Off')]),
    cryptoSuites: Type.Array(Type.String()),
  }),
  iceLite: Type.Boolean(),
  rtcpMux: Type.Boolean(),
  symmetricRtp: Type.Boolean(),
  codecs: Type.Array(CodecConfig),
  identity: Type.Object({
    assertedIdentity: Type.Union([Type.Literal('Passthrough'), Type.Literal('Add'), Type.Literal('Remove')]),
    privacy: Type.Union([Type.Literal('Passthrough'), Type.Literal('Restrict'), Type.Literal('Remove')]),
  }),
  sessionTimer: Type.Object({
    enabled: Type.Boolean(),
    sessionExpiresSeconds: Type.Integer(),
    minSESeconds: Type.Integer(),
    refresher: Type.Union([Type.Literal('UAC'), Type.Literal('UAS'), Type.Literal('Auto')]),
  }),
})
export type ProfileConfig = Static<typeof ProfileConfig>

/** A proxy with resolution and port resolved (port null for SRV: it comes from the records). */
export const ProxyConfig = Type.Object({
  address: Type.String(),
  port: Nullable(Type.Integer()),
  transport: Transport,
  resolution: Type.Union([Type.Literal('Static'), Type.Literal('A'), Type.Literal('SRV')]),
  priority: Type.Integer(),
  weight: Type.Integer(),
})
export type ProxyConfig = Static<typeof ProxyConfig>

/** An IP group with every reference resolved to a snapshot entry. */
export const GroupConfig = Type.Object({
  name: Name,
  sipInterface: Type.String(),
  profile: Type.String(),
  mediaRealm: Type.String(),
  sipGroupName: Nullable(Type.String()),
  contactUser: Nullable(Type.String()),
  proxies: Type.Array(ProxyConfig),
  keepAlive: Type.Object({
    enabled: Type.Boolean(),
    intervalSeconds: Type.Integer(),
    failureThreshold: Type.Integer(),
  }),
  registration: Type.Object({
    mode: Type.Union([Type.Literal('None'), Type.Literal('SBCInitiates'), Type.Literal('UserInitiates')]),
    registrar: Nullable(Type.String()),
    expiresSeconds: Type.Integer(),
    username: Nullable(SecretKeyRef),
    password: Nullable(SecretKeyRef),
  }),
  classification: Type.Object({
    fromProxySet: Type.Boolean(),
    rules: Type.Array(
      Type.Object({
        name: Type.String(),
        sourceCIDRs: Type.Array(Type.String()),
        sourcePorts: Type.Array(Type.Integer()),
        peerCertificateNames: Type.Array(Type.String()),
        host: Nullable(Type.Object({ header: Type.String(), values: Type.Array(Type.String()) })),
      }),
    ),
  }),
  manipulations: Type.Array(
    Type.Object({
      name: Type.String(),
      direction: Type.Union([Type.Literal('Outbound'), Type.Literal('Inbound')]),
      methods: Type.Array(Type.String()),
      header: Type.String(),
      action: Type.Union([
        Type.Literal('Set'),
        Type.Literal('Add'),
        Type.Literal('Remove'),
        Type.Literal('ReplaceHost'),
        Type.Literal('SetIfAbsent'),
      ]),
      value: Nullable(Type.String()),
    }),
  ),
  maxConcurrentCalls: Nullable(Type.Integer({ minimum: 1 })),
  callRateLimit: Nullable(Type.Object({ callsPerSecond: Type.Number(), burst: Type.Integer() })),
})
export type GroupConfig = Static<typeof GroupConfig>

/** A routing rule; the routes list is sorted by order. */
export const RouteConfig = Type.Object({
  name: Name,
  order: Type.Integer(),
  match: Type.Object({
    sourceIPGroups: Type.Array(Type.String(), { description: 'Empty means any group (and unclassified).' }),
    methods: Type.Array(Type.String(), { description: 'Empty means any method.' }),
    sourceNumber: Nullable(Pattern),
    destinationNumber: Nullable(Pattern),
    headers: Type.Array(
      Type.Object({
        name: Type.String({ description: 'Lower-case.' }),
        present: Type.Boolean(),
        value: Nullable(Pattern),
      }),
    ),
  }),
  action: Type.Union([
    Type.Object({
      type: Type.Literal('route'),
      targets: Type.Array(Type.String(), { minItems: 1 }),
      failover: Type.Object({ onStatusCodes: Type.Array(Type.Integer()), onTimeout: Type.Boolean() }),
    }),
    Type.Object({ type: Type.Literal('reply'), code: Type.Integer(), reason: Type.String() }),
  ]),
})
export type RouteConfig = Static<typeof RouteConfig>

/** Global settings from the SessionBorderController. */
export const SecurityConfig = Type.Object({
  maliciousSignatures: Type.Array(
    Type.Object({
      name: Type.String(),
      header: Type.String({ description: 'Lower-case header name.' }),
      match: Pattern,
      action: Type.Union([Type.Literal('Drop'), Type.Literal('Reject')]),
    }),
  ),
  rateLimit: Nullable(
    Type.Object({ requestsPerSecond: Type.Number(), burst: Type.Integer(), banSeconds: Type.Integer() }),
  ),
  unclassified: Type.Union([Type.Literal('Drop'), Type.Literal('Reject'), Type.Literal('Allow')]),
})
export type SecurityConfig = Static<typeof SecurityConfig>

/** The complete snapshot. */
export const SbcConfig = Type.Object({
  schemaVersion: Type.Literal(SBC_CONFIG_SCHEMA_VERSION),
  generation: Type.Integer({
    minimum: 0,
    description: 'Increases with every published change; pods acknowledge it.',
  }),
  namespace: Type.String({ description: 'Namespace the objects came from; Secret references are in it.' }),
  controller: Nullable(Type.String({ description: 'Name of the SessionBorderController, null when none.' })),
  redis: Type.Object({
    mode: Type.Union([Type.Literal('memory'), Type.Literal('url'), Type.Literal('sentinel')]),
    url: Nullable(Type.String()),
    sentinel: Nullable(Type.Object({ masterName: Type.String(), addresses: Type.Array(Type.String()) })),
    password: Nullable(SecretKeyRef),
  }),
  nat: Nullable(
    Type.Object({ network: Network, publicAddress: Type.String(), fqdn: Nullable(Type.String()) }),
  ),
  security: SecurityConfig,
  realms: Type.Array(RealmConfig),
  interfaces: Type.Array(InterfaceConfig),
  profiles: Type.Array(ProfileConfig),
  groups: Type.Array(GroupConfig),
  routes: Type.Array(RouteConfig),
})
export type SbcConfig = Static<typeof SbcConfig>
