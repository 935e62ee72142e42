import { isIP } from 'node:net'
import { type Static, Type } from '@sinclair/typebox'
import {
  Cidr,
  cel,
  Host,
  Hostname,
  LocalObjectReference,
  Port,
  StringEnum,
  withCel,
} from '../schema-helpers.ts'
import { CommonStatus } from './conditions.ts'
import { TransportField } from './sip-interface.ts'

/** How a proxy address is turned into destinations. */
export const Resolutions = ['Static', 'A', 'SRV'] as const
export type Resolution = (typeof Resolutions)[number]

type ProxyShape = { address: string; port?: number; resolution?: string }

/** One proxy of a proxy set. */
export const SipProxy = withCel(
  Type.Object(
    {
      address: Host('IP address or DNS name of the proxy (e.g. 10.0.40.248, uclabdev.pstn.twilio.com).'),
      port: Type.Optional(
        Port(
          'Port of the proxy. Omit for the transport default (5060, 5061 for TLS); must be omitted with SRV.',
        ),
      ),
      transport: TransportField('Transport used toward the proxy.', { default: 'UDP' }),
      resolution: Type.Optional(
        StringEnum(Resolutions, {
          description:
            'Static: address is an IP. A: resolve A/AAAA records. SRV: resolve RFC 3263 SRV records (_sip._udp, _sip._tcp, _sips._tcp) and use their targets, priorities and weights. Defaults to Static for an IP, else A.',
        }),
      ),
      priority: Type.Optional(
        Type.Integer({
          minimum: 0,
          maximum: 65535,
          default: 0,
          description: 'Lower values are tried first, as in SRV.',
        }),
      ),
      weight: Type.Optional(
        Type.Integer({
          minimum: 0,
          maximum: 65535,
          default: 1,
          description: 'Share of calls among proxies of equal priority, as in SRV.',
        }),
      ),
    },
    { additionalProperties: false, description: 'A proxy (next hop) of the group.' },
  ),
  [
    cel<ProxyShape>(
      "!has(self.resolution) || self.resolution != 'Static' || isIP(self.address)",
      'resolution Static needs an IP address',
      (s) => s.resolution !== 'Static' || isIP(s.address) !== 0,
    ),
    cel<ProxyShape>(
      "!has(self.resolution) || self.resolution != 'SRV' || !has(self.port)",
      'a port must not be given with SRV resolution',
      (s) => s.resolution !== 'SRV' || s.port === undefined,
    ),
    cel<ProxyShape>(
      "!has(self.resolution) || self.resolution == 'Static' || !isIP(self.address)",
      'resolution A or SRV needs a DNS name',
      (s) => s.resolution === undefined || s.resolution === 'Static' || isIP(s.address) === 0,
    ),
  ],
)
export type SipProxy = Static<typeof SipProxy>

/** OPTIONS keep-alive toward the proxies. */
export const KeepAlive = Type.Object(
  {
    enabled: Type.Boolean({
      default: true,
      description: 'Probe each proxy with OPTIONS and skip proxies that do not answer.',
    }),
    intervalSeconds: Type.Optional(
      Type.Integer({
        minimum: 5,
        maximum: 3600,
        default: 60,
        description: 'Seconds between probes of one proxy.',
      }),
    ),
    failureThreshold: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10,
        default: 3,
        description: 'Consecutive failed probes before the proxy is marked down.',
      }),
    ),
  },
  { additionalProperties: false, description: 'OPTIONS keep-alive (health probing) of the proxies.' },
)

/** The proxy set of a group (the seed's SipProxy Set). */
export const ProxySet = Type.Object(
  {
    proxies: Type.Array(SipProxy, {
      minItems: 1,
      maxItems: 16,
      description: 'The proxies (next hops) of the group.',
    }),
    keepAlive: Type.Optional(KeepAlive),
  },
  { additionalProperties: false, description: 'Where requests toward the group are sent.' },
)
export type ProxySet = Static<typeof ProxySet>

/** Registration modes (the seed's IP Group Registration Mode). */
export const RegistrationModes = ['None', 'SBCInitiates', 'UserInitiates'] as const

/** Registration of the SBC to an upstream registrar. */
export const Registration = Type.Object(
  {
    mode: StringEnum(RegistrationModes, {
      default: 'None',
      description:
        'None: no registration. SBCInitiates: the SBC registers itself to the group (the seed\'s "Mode 2 (SBC registers)"). UserInitiates: registrations of users behind the SBC are forwarded.',
    }),
    registrar: Type.Optional(
      Host("Registrar host. Defaults to the group's sipGroupName, else the first proxy address."),
    ),
    expiresSeconds: Type.Optional(
      Type.Integer({
        minimum: 60,
        maximum: 86400,
        default: 3600,
        description: 'Requested registration lifetime.',
      }),
    ),
    credentialsSecretRef: Type.Optional(
      LocalObjectReference('Secret with keys username and password for digest authentication (RFC 8760).'),
    ),
  },
  { additionalProperties: false, description: 'Registration of the SBC to the group.' },
)
export type Registration = Static<typeof Registration>

/** SIP headers whose URI host can identify a group. */
export const HostHeaders = ['From', 'To', 'RequestURI', 'Via', 'Contact'] as const

/** One classification rule: all given criteria must match. */
export const ClassificationRule = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 63,
      description: 'Name of the rule, reported in traces and metrics.',
    }),
    sourceCIDRs: Type.Optional(
      Type.Array(Cidr('A source prefix.'), {
        maxItems: 32,
        description: 'Source address prefixes (any of them).',
      }),
    ),
    sourcePorts: Type.Optional(
      Type.Array(Port('A source port.'), { maxItems: 16, description: 'Source ports (any of them).' }),
    ),
    peerCertificateNames: Type.Optional(
      Type.Array(Hostname('A DNS name in the peer certificate.'), {
        maxItems: 16,
        description:
          'Names of which one must be a SIP identity of the verified TLS peer certificate (RFC 5922 §7.1: the hosts of its sip: URI SANs, else its DNS SANs, else its CN when it has no SAN).',
      }),
    ),
    host: Type.Optional(
      Type.Object(
        {
          header: StringEnum(HostHeaders, {
            default: 'From',
            description: 'Header whose URI host is matched.',
          }),
          values: Type.Array(Hostname('A host.'), {
            minItems: 1,
            maxItems: 16,
            description: 'Hosts of which one must match.',
          }),
        },
        {
          additionalProperties: false,
          description: 'Match by the host of a SIP URI (e.g. the Twilio domain in From).',
        },
      ),
    ),
  },
  { additionalProperties: false, description: 'A classification rule; every criterion given must match.' },
)

/** How inbound traffic is assigned to the group (the seed's Classification table). */
export const Classification = Type.Object(
  {
    fromProxySet: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          'Classify requests whose source address is one of the resolved proxy addresses into this group.',
      }),
    ),
    rules: Type.Optional(
      Type.Array(ClassificationRule, {
        maxItems: 16,
        description: 'Further rules; a request matching any of them is classified into this group.',
      }),
    ),
  },
  { additionalProperties: false, description: 'How inbound requests are classified into this group.' },
)
export type Classification = Static<typeof Classification>

/** Manipulation actions. */
export const ManipulationActions = ['Set', 'Add', 'Remove', 'ReplaceHost', 'SetIfAbsent'] as const
/** Directions a manipulation applies to. */
export const Directions = ['Outbound', 'Inbound'] as const
/** SIP methods the SBC knows. */
export const SipMethods = [
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'OPTIONS',
  'REGISTER',
  'PRACK',
  'SUBSCRIBE',
  'NOTIFY',
  'PUBLISH',
  'INFO',
  'REFER',
  'MESSAGE',
  'UPDATE',
] as const
export type SipMethod = (typeof SipMethods)[number]

/** Schema of a method list. */
export function MethodList(description: string) {
  return Type.Array(StringEnum(SipMethods, { description: 'A SIP method.' }), { maxItems: 14, description })
}

type ManipulationShape = { action: string; value?: string }

/** One header manipulation (the seed's Message Manipulation rows). */
export const Manipulation = withCel(
  Type.Object(
    {
      name: Type.String({
        minLength: 1,
        maxLength: 63,
        description: 'Name of the rule, reported in traces.',
      }),
      direction: Type.Optional(
        StringEnum(Directions, {
          default: 'Outbound',
          description: 'Outbound: messages the SBC sends to the group. Inbound: messages received from it.',
        }),
      ),
      methods: Type.Optional(
        MethodList('Apply only to requests (and their responses) of these methods. Empty means all.'),
      ),
      header: Type.String({
        minLength: 1,
        maxLength: 64,
        pattern: "^[A-Za-z0-9!%*_+`'~.-]+$",
        description: 'Header name the rule acts on (e.g. Contact, From, To, Max-Forwards).',
      }),
      action: StringEnum(ManipulationActions, {
        description:
          'Set replaces the header value; Add appends a header; Remove deletes it; ReplaceHost replaces the host of its URI; SetIfAbsent adds it only when missing.',
      }),
      value: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 512,
          description: 'The literal value (or host, for ReplaceHost). Required except for Remove.',
        }),
      ),
    },
    { additionalProperties: false, description: 'A declarative header manipulation.' },
  ),
  [
    cel<ManipulationShape>(
      "self.action == 'Remove' ? !has(self.value) : has(self.value)",
      'value is required for every action except Remove, and forbidden for Remove',
      (s) => (s.action === 'Remove' ? s.value === undefined : s.value !== undefined),
    ),
  ],
)
export type Manipulation = Static<typeof Manipulation>

/** A token-bucket call rate limit. */
export const CallRateLimit = Type.Object(
  {
    callsPerSecond: Type.Number({
      exclusiveMinimum: 0,
      maximum: 100000,
      description: 'Sustained new calls per second.',
    }),
    burst: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100000,
        description: 'Calls allowed in a burst. Defaults to callsPerSecond rounded up.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Limit on new calls per second, cluster-wide.' },
)

/** IPGroup: a peer of the SBC (the seed's IP Group + SipProxy Set + Classification + ManSet). */
export const IPGroupSpec = Type.Object(
  {
    sipInterfaceRef: LocalObjectReference('SipInterface that calls with this group use.'),
    ipProfileRef: LocalObjectReference('IPProfile applied to legs toward this group.'),
    mediaRealmRef: Type.Optional(
      LocalObjectReference('MediaRealm for this group; defaults to the SipInterface realm.'),
    ),
    sipGroupName: Type.Optional(
      Hostname('Host put in the Request-URI of requests sent to the group (e.g. uclabdev.pstn.twilio.com).'),
    ),
    contactUser: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        pattern: "^[A-Za-z0-9\\-_.!~*'()&=+$,;?/]+$",
        description: 'User part of the Contact the SBC presents toward the group (e.g. sbc1.uclab.dev).',
      }),
    ),
    proxySet: ProxySet,
    registration: Type.Optional(Registration),
    classification: Type.Optional(Classification),
    manipulations: Type.Optional(
      Type.Array(Manipulation, { maxItems: 32, description: 'Header manipulations, applied in order.' }),
    ),
    maxConcurrentCalls: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10000000,
        description: 'Concurrent calls with this group, cluster-wide. Omit for no limit.',
      }),
    ),
    callRateLimit: Type.Optional(CallRateLimit),
  },
  { additionalProperties: false, description: 'Desired state of an IPGroup.' },
)
export type IPGroupSpec = Static<typeof IPGroupSpec>

/** Health of one proxy as seen by the keep-alive prober. */
export const ProxyStatus = Type.Object(
  {
    address: Type.String({ description: 'Resolved address:port of the proxy.' }),
    transport: Type.String({ description: 'Transport used.' }),
    healthy: Type.Boolean({ description: 'Whether the last keep-alive probes succeeded.' }),
    lastProbeTime: Type.Optional(
      Type.String({ format: 'date-time', description: 'When it was probed last.' }),
    ),
  },
  { additionalProperties: false, description: 'Health of one proxy.' },
)

/** Observed state of an IPGroup. */
export const IPGroupStatus = Type.Object(
  {
    ...CommonStatus.properties,
    activeCalls: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Calls in progress with this group.' }),
    ),
    proxies: Type.Optional(
      Type.Array(ProxyStatus, { maxItems: 64, description: 'Health of each resolved proxy.' }),
    ),
  },
  { additionalProperties: false, description: 'Observed state, written by the operator.' },
)
export type IPGroupStatus = Static<typeof IPGroupStatus>
