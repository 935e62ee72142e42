import { Kind, type Static, Type } from '@sinclair/typebox'
import { cel, Hostname, IPAddress, LocalObjectReference, StringEnum, withCel } from '../schema-helpers.ts'
import { commonStatusFields } from './conditions.ts'
import { NetworkField } from './network.ts'
import { StringPattern } from './routing-rule.ts'

/** Kubernetes resource quantities (`cpu: 500m`, `memory: 256Mi`). */
const Quantities = (description: string) =>
  Type.Record(
    Type.String(),
    Type.Unsafe<string | number>({
      [Kind]: 'IntOrString',
      'x-kubernetes-int-or-string': true,
      anyOf: [{ type: 'integer' }, { type: 'string' }],
      pattern:
        '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
      description: 'A resource quantity.',
    }),
    { description },
  )

/** Container resources. */
export const Resources = Type.Object(
  {
    requests: Type.Optional(Quantities('Minimum resources (cpu, memory).')),
    limits: Type.Optional(Quantities('Maximum resources (cpu, memory).')),
  },
  { additionalProperties: false, description: 'Compute resources of the container.' },
)

const NodeSelector = Type.Record(Type.String(), Type.String({ description: 'A label value.' }), {
  description: 'Node labels the pods must run on.',
})

/** Label selector (matchLabels only; the operator ANDs them). */
export const LabelSelector = Type.Object(
  {
    matchLabels: Type.Record(Type.String(), Type.String({ description: 'A label value.' }), {
      description: 'Labels an object must carry (all of them) to belong to this SBC.',
    }),
  },
  { additionalProperties: false, description: 'Selects objects by label.' },
)

/** Redis connection. */
export const Redis = withCel(
  Type.Object(
    {
      url: Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 1024,
          pattern: '^rediss?://',
          description: 'redis:// or rediss:// URL of a standalone Redis or Redis Cluster node.',
        }),
      ),
      sentinel: Type.Optional(
        Type.Object(
          {
            masterName: Type.String({
              minLength: 1,
              maxLength: 128,
              description: 'Name of the monitored master.',
            }),
            addresses: Type.Array(
              Type.String({
                minLength: 3,
                maxLength: 260,
                pattern: '^[^:]+:[0-9]+$',
                description: 'host:port of a Sentinel.',
              }),
              { minItems: 1, maxItems: 16, description: 'Sentinel endpoints.' },
            ),
          },
          { additionalProperties: false, description: 'Redis Sentinel to discover the master from.' },
        ),
      ),
      passwordSecretRef: Type.Optional(
        LocalObjectReference('Secret holding the Redis password (key password).'),
      ),
    },
    {
      additionalProperties: false,
      description:
        'Where dialog state lives. Omit url and sentinel for an in-process store (standalone only).',
    },
  ),
  [
    cel<{ url?: string; sentinel?: unknown }>(
      '!(has(self.url) && has(self.sentinel))',
      'url and sentinel are mutually exclusive',
      (s) => !(s.url !== undefined && s.sentinel !== undefined),
    ),
  ],
)

/** NAT of a network to a public address (the seed's NAT translation to 12.34.56.78). */
export const Nat = Type.Object(
  {
    network: Type.Optional(NetworkField('Network behind the NAT. Defaults to WAN.')),
    publicAddress: IPAddress('Public address the network is translated to (e.g. 12.34.56.78).'),
    fqdn: Type.Optional(Hostname('Public FQDN of the SBC (e.g. sbc1.uclab.dev).')),
  },
  { additionalProperties: false, description: 'Static NAT in front of a network.' },
)

/** Actions on malicious traffic. */
export const SignatureActions = ['Drop', 'Reject'] as const
/** Policies for traffic no IP group claims. */
export const UnclassifiedPolicies = ['Drop', 'Reject', 'Allow'] as const

/** A malicious signature (the seed's Malicious Signature DB). */
export const MaliciousSignature = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 63,
      description: 'Name of the signature (e.g. sipvicious).',
    }),
    header: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        default: 'User-Agent',
        pattern: "^[A-Za-z0-9!%*_+`'~.-]+$",
        description: 'Header inspected.',
      }),
    ),
    match: StringPattern('Pattern the header value must match (case-insensitive) to be malicious.'),
    action: Type.Optional(
      StringEnum(SignatureActions, {
        default: 'Drop',
        description: 'Drop silently (default, gives scanners nothing) or Reject with 403.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'A signature of malicious traffic, checked before classification.',
  },
)

/** Global security. */
export const Security = Type.Object(
  {
    maliciousSignatures: Type.Optional(
      Type.Array(MaliciousSignature, {
        maxItems: 256,
        description: 'Malicious signatures, checked in order.',
      }),
    ),
    rateLimit: Type.Optional(
      Type.Object(
        {
          requestsPerSecond: Type.Number({
            exclusiveMinimum: 0,
            maximum: 1000000,
            description: 'Sustained out-of-dialog requests per second accepted from one source address.',
          }),
          burst: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 1000000, description: 'Requests allowed in a burst.' }),
          ),
          banSeconds: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 86400,
              default: 0,
              description:
                'Seconds a source exceeding the limit is banned, shared by all pods. 0 disables banning.',
            }),
          ),
        },
        { additionalProperties: false, description: 'Per-source rate limit.' },
      ),
    ),
    unclassified: Type.Optional(
      StringEnum(UnclassifiedPolicies, {
        default: 'Reject',
        description:
          'What happens to requests no IPGroup claims: Drop, Reject (403), or Allow (routing rules without source decide).',
      }),
    ),
  },
  { additionalProperties: false, description: 'Security policies applied before routing.' },
)
export type Security = Static<typeof Security>

/** SessionBorderController: the SBC itself. */
export const SessionBorderControllerSpec = Type.Object(
  {
    selector: Type.Optional(LabelSelector),
    signalling: Type.Optional(
      Type.Object(
        {
          replicas: Type.Optional(
            Type.Integer({ minimum: 0, maximum: 100, default: 2, description: 'Number of signalling pods.' }),
          ),
          resources: Type.Optional(Resources),
          nodeSelector: Type.Optional(NodeSelector),
        },
        { additionalProperties: false, description: 'Signalling (SIP B2BUA) pods.' },
      ),
    ),
    media: Type.Optional(
      Type.Object(
        {
          resources: Type.Optional(Resources),
          nodeSelector: Type.Optional(NodeSelector),
          workerSpillPps: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 10_000_000,
              description:
                'Packets per second one relay thread carries before calls spill onto the next thread and move back when the load falls (kube-sbc media --worker-spill-pps; default 15000). 0: every thread takes calls in turn.',
            }),
          ),
          workerPriority: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 99,
              description:
                'Real-time priority (SCHED_FIFO 1-99) of the relay threads (kube-sbc media --worker-priority); 0 or unset: normal threads. Lower tail latency under CPU contention, more CPU per packet (docs/media-pod.md). Set, the media container runs as UID 0 with every capability dropped but SYS_NICE (Kubernetes gives a non-root process no added capability); the node must let containers use SCHED_FIFO.',
            }),
          ),
        },
        {
          additionalProperties: false,
          description: 'Media relay pods (one per selected node, host network).',
        },
      ),
    ),
    redis: Type.Optional(Redis),
    nat: Type.Optional(Nat),
    security: Type.Optional(Security),
  },
  {
    additionalProperties: false,
    description:
      'Desired state of the SBC. It owns the SipInterfaces, MediaRealms, IPProfiles, IPGroups and RoutingRules of its namespace that match its selector (all of them when the selector is omitted).',
  },
)
export type SessionBorderControllerSpec = Static<typeof SessionBorderControllerSpec>

/** Observed state of a SessionBorderController. */
export const SessionBorderControllerStatus = Type.Object(
  {
    ...commonStatusFields,
    configGeneration: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Generation of the newest published SbcConfig snapshot.' }),
    ),
    acknowledgedGeneration: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Lowest snapshot generation all pods acknowledged.' }),
    ),
  },
  { additionalProperties: false, description: 'Observed state, written by the operator.' },
)
export type SessionBorderControllerStatus = Static<typeof SessionBorderControllerStatus>
