import { type Static, Type } from '@sinclair/typebox'
import {
  cel,
  Hostname,
  IPAddress,
  LocalObjectReference,
  Port,
  StringEnum,
  withCel,
} from '../schema-helpers.ts'
import { CommonStatus } from './conditions.ts'
import { NetworkField } from './network.ts'

/** SIP transports. */
export const Transports = ['UDP', 'TCP', 'TLS'] as const
export type Transport = (typeof Transports)[number]

/** Schema of a transport field. */
export function TransportField(description: string, options: { default?: Transport } = {}) {
  return StringEnum(Transports, { description, ...options })
}

/** One SIP listener of an interface. */
export const Listener = Type.Object(
  {
    transport: TransportField('Transport of this listener: UDP, TCP or TLS.'),
    port: Port('Port the listener binds (SIP default 5060, SIP over TLS 5061).'),
  },
  { additionalProperties: false, description: 'A transport and port the interface listens on.' },
)
export type Listener = Static<typeof Listener>

/** TLS versions. */
export const TlsVersions = ['TLSv1.2', 'TLSv1.3'] as const
/** Key exchange groups the TLS stack supports. */
export const TlsGroups = ['X25519', 'X448', 'P-256', 'P-384', 'P-521'] as const

/** TLS settings of an interface (the seed's TLS Context). */
export const TlsSettings = withCel(
  Type.Object(
    {
      secretRef: LocalObjectReference(
        'Secret of type kubernetes.io/tls (keys tls.crt and tls.key) holding the certificate the SBC presents.',
      ),
      clientCASecretRef: Type.Optional(
        LocalObjectReference(
          'Secret holding the CA bundle (key ca.crt) that peer certificates are verified against. Required for mutual authentication.',
        ),
      ),
      mutualAuth: Type.Optional(
        Type.Boolean({
          default: false,
          description: 'Require and verify a client certificate from peers connecting to this interface.',
        }),
      ),
      minVersion: Type.Optional(
        StringEnum(TlsVersions, { default: 'TLSv1.2', description: 'Lowest TLS version accepted.' }),
      ),
      groups: Type.Optional(
        Type.Array(StringEnum(TlsGroups, { description: 'A key exchange group.' }), {
          maxItems: 8,
          description:
            'Key exchange groups offered, in order of preference. Empty means the TLS library default.',
        }),
      ),
      cipherSuites: Type.Optional(
        Type.Array(
          Type.String({
            minLength: 1,
            maxLength: 64,
            pattern: '^[A-Z0-9_-]+$',
            description: 'A cipher suite name (OpenSSL or IANA spelling).',
          }),
          {
            maxItems: 32,
            description:
              'Cipher suites allowed, in order of preference. Empty means the TLS library default.',
          },
        ),
      ),
      serverName: Type.Optional(
        Hostname(
          'Name the SBC certificate is issued for, sent as SNI when the SBC connects out over this interface and matched by peers (e.g. sbc1.uclab.dev).',
        ),
      ),
    },
    {
      additionalProperties: false,
      description: 'TLS settings for TLS listeners and outbound TLS connections.',
    },
  ),
  [
    cel<{ mutualAuth?: boolean; clientCASecretRef?: unknown }>(
      '!has(self.mutualAuth) || !self.mutualAuth || has(self.clientCASecretRef)',
      'mutual authentication needs clientCASecretRef',
      (s) => s.mutualAuth !== true || s.clientCASecretRef !== undefined,
    ),
  ],
)
export type TlsSettings = Static<typeof TlsSettings>

/** How the interface is reachable from outside the cluster. */
export const ExposureModes = ['HostPort', 'Service'] as const
/** Service types for exposure mode Service. */
export const ServiceTypes = ['ClusterIP', 'NodePort', 'LoadBalancer'] as const

/** Exposure of an interface. */
export const Exposure = Type.Object(
  {
    mode: StringEnum(ExposureModes, {
      default: 'HostPort',
      description:
        'HostPort binds the listeners on the node network of the signalling pods; Service puts a Kubernetes Service in front of them.',
    }),
    serviceType: Type.Optional(
      StringEnum(ServiceTypes, {
        default: 'LoadBalancer',
        description: 'Service type when mode is Service.',
      }),
    ),
    loadBalancerIP: Type.Optional(
      IPAddress('Requested load balancer address when serviceType is LoadBalancer.'),
    ),
  },
  { additionalProperties: false, description: 'How the interface is exposed outside the cluster.' },
)
export type Exposure = Static<typeof Exposure>

/** The public identity of an interface behind NAT. */
export const Advertised = Type.Object(
  {
    address: Type.Optional(
      IPAddress('Public address written into Via, Contact and Record-Route (e.g. 12.34.56.78).'),
    ),
    fqdn: Type.Optional(
      Hostname('Public FQDN presented in Contact and as TLS identity (e.g. sbc1.uclab.dev).'),
    ),
  },
  { additionalProperties: false, description: 'Address and name the interface presents to peers.' },
)
export type Advertised = Static<typeof Advertised>

type SpecShape = { listeners: { transport: string; port: number }[]; tls?: unknown }

/** SipInterface: where the SBC listens for SIP (the seed's SIP Interface plus TLS Context). */
export const SipInterfaceSpec = withCel(
  Type.Object(
    {
      network: NetworkField('Network the interface listens on: LAN or WAN.'),
      bindAddress: Type.Optional(
        IPAddress('Address the listeners bind. Omit to bind all addresses (0.0.0.0).'),
      ),
      listeners: withCel(
        Type.Array(Listener, {
          minItems: 1,
          maxItems: 8,
          description:
            'Transports and ports to listen on. UDP and TCP/TLS may share a port; two stream listeners may not.',
        }),
        [
          cel<{ transport: string; port: number }[]>(
            "self.all(l, self.exists_one(m, m.port == l.port && (m.transport == 'UDP') == (l.transport == 'UDP')))",
            'listener ports must be unique per protocol (TCP and TLS share TCP ports)',
            (ls) =>
              ls.every(
                (l) =>
                  ls.filter((m) => m.port === l.port && (m.transport === 'UDP') === (l.transport === 'UDP'))
                    .length === 1,
              ),
          ),
        ],
      ),
      tls: Type.Optional(TlsSettings),
      advertised: Type.Optional(Advertised),
      mediaRealmRef: LocalObjectReference(
        'MediaRealm relaying media of calls on this interface, unless the IPGroup overrides it.',
      ),
      exposure: Type.Optional(Exposure),
    },
    { additionalProperties: false, description: 'Desired state of a SipInterface.' },
  ),
  [
    cel<SpecShape>(
      "!self.listeners.exists(l, l.transport == 'TLS') || has(self.tls)",
      'a TLS listener needs tls.secretRef',
      (s) => !s.listeners.some((l) => l.transport === 'TLS') || s.tls !== undefined,
      '.tls',
    ),
  ],
)
export type SipInterfaceSpec = Static<typeof SipInterfaceSpec>

/** Observed state of a SipInterface. */
export const SipInterfaceStatus = CommonStatus
export type SipInterfaceStatus = Static<typeof SipInterfaceStatus>
