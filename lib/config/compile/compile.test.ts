import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { validateConfig } from '../validate.ts'
import { compile } from './compile.ts'
import {
  base,
  ipGroup,
  ipProfile,
  matching,
  mediaRealm,
  NS,
  routeTo,
  routingRule,
  sbc,
  secret,
  sipInterface,
  withField,
  withMeta,
  withPorts,
  withTransport,
} from './fixtures.ts'
import type { KubeObject } from './objects.ts'
import type { Verdict } from './verdict.ts'

function verdictOf(verdicts: readonly Verdict[], kind: string, name: string): Verdict {
  const v = verdicts.find((x) => x.kind === kind && x.name === name)
  assert.ok(v, `no verdict for ${kind} ${name}`)
  return v
}

function condition(v: Verdict, type: string) {
  const c = v.conditions.find((x) => x.type === type)
  assert.ok(c, `no ${type} condition`)
  return c
}

function loadExample(dir: string): KubeObject[] {
  const root = join(import.meta.dirname, '../../../examples', dir)
  return readdirSync(root)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(join(root, f), 'utf8')).map((d) => d.toJS() as KubeObject))
}

interface Case {
  name: string
  objects: () => KubeObject[]
  kind: string
  object: string
  type: 'Accepted' | 'ResolvedRefs'
  reason: string
  /** Text the condition message must contain (naming the object and field). */
  message: string
  excluded?: boolean
}

const cases: Case[] = [
  {
    name: 'rejects a spec that violates the schema, naming the field path',
    objects: () => [...base(), mediaRealm('bad', withPorts(50000, 49000))],
    kind: 'MediaRealm',
    object: 'bad',
    type: 'Accepted',
    reason: 'Invalid',
    message: 'MediaRealm lab/bad: spec.portRange: min must not exceed max',
  },
  {
    name: 'rejects a second interface listening on the same address, port and transport',
    objects: () => [...base(), sipInterface('si2')],
    kind: 'SipInterface',
    object: 'si2',
    type: 'Accepted',
    reason: 'Conflicted',
    message: 'spec.listeners[0]: UDP port 5060 on 127.0.0.1 is already used by SipInterface "si"',
  },
  {
    name: 'rejects a wildcard listener that collides with a specific address',
    objects: () => [...base(), sipInterface('wildcard', withField('bindAddress', '0.0.0.0'))],
    kind: 'SipInterface',
    object: 'wildcard',
    type: 'Accepted',
    reason: 'Conflicted',
    message: 'already used by SipInterface "si"',
  },
  {
    name: 'rejects a TLS listener on the TCP port of another interface',
    objects: () => [
      ...base(),
      secret('tls', ['tls.crt', 'tls.key']),
      sipInterface('tcp-si', withTransport('TCP', 5070)),
      sipInterface('tls-si', withTransport('TLS', 5070)),
    ],
    kind: 'SipInterface',
    object: 'tls-si',
    type: 'Accepted',
    reason: 'Conflicted',
    message: 'TLS port 5070 on 127.0.0.1 is already used by SipInterface "tcp-si" (TCP 5070 on 127.0.0.1)',
  },
  {
    name: 'rejects a media realm overlapping another on the same network and address',
    objects: () => [...base(), mediaRealm('mr2', withPorts(40050, 40150))],
    kind: 'MediaRealm',
    object: 'mr2',
    type: 'Accepted',
    reason: 'Conflicted',
    message: 'spec.portRange: ports 40050-40150 overlap MediaRealm "mr" (40000-40099) on network LAN',
  },
  {
    name: 'rejects routing rules with the same order, keeping the older one',
    objects: () => [...base(), routingRule('a', 5), routingRule('b', 5, matching({ methods: ['INVITE'] }))],
    kind: 'RoutingRule',
    object: 'b',
    type: 'Accepted',
    reason: 'Conflicted',
    message: 'spec.order: order 5 is already used by RoutingRule "a"',
  },
  {
    name: 'rejects a route to an unknown IP group',
    objects: () => [...base(), routingRule('r', 1, routeTo('nowhere'))],
    kind: 'RoutingRule',
    object: 'r',
    type: 'ResolvedRefs',
    reason: 'RefNotFound',
    message:
      'RoutingRule lab/r: spec.action.route.targets[0].ipGroup: IPGroup "nowhere" not found in namespace lab',
  },
  {
    name: 'rejects a route from an unknown source IP group',
    objects: () => [
      ...base(),
      ipGroup('g'),
      routingRule('r', 1, routeTo('g'), matching({ sourceIPGroups: ['ghost'] })),
    ],
    kind: 'RoutingRule',
    object: 'r',
    type: 'ResolvedRefs',
    reason: 'RefNotFound',
    message: 'spec.match.sourceIPGroups[0]: IPGroup "ghost" not found',
  },
  {
    name: 'rejects a route to an IP group that exists but is not valid',
    objects: () => [
      ...base(),
      ipGroup('g', withField('ipProfileRef', { name: 'missing' })),
      routingRule('r', 1, routeTo('g')),
    ],
    kind: 'RoutingRule',
    object: 'r',
    type: 'ResolvedRefs',
    reason: 'RefNotAccepted',
    message: 'IPGroup "g" exists but is not valid',
  },
  {
    name: 'rejects an IP group whose IP profile does not exist',
    objects: () => [...base(), ipGroup('g', withField('ipProfileRef', { name: 'missing' }))],
    kind: 'IPGroup',
    object: 'g',
    type: 'ResolvedRefs',
    reason: 'RefNotFound',
    message: 'IPGroup lab/g: spec.ipProfileRef.name: IPProfile "missing" not found in namespace lab',
  },
  {
    name: 'rejects an IP group whose SIP interface does not exist',
    objects: () => [...base(), ipGroup('g', withField('sipInterfaceRef', { name: 'missing' }))],
    kind: 'IPGroup',
    object: 'g',
    type: 'ResolvedRefs',
    reason: 'RefNotFound',
    message: 'spec.sipInterfaceRef.name: SipInterface "missing" not found',
  },
  {
    name: 'rejects an IP group whose media realm override does not exist',
    objects: () => [...base(), ipGroup('g', withField('mediaRealmRef', { name: 'missing' }))],
    kind: 'IPGroup',
    object: 'g',
    type: 'ResolvedRefs',
    reason: 'RefNotFound',
    message: 'spec.mediaRealmRef.name: MediaRealm "missing" not found',
  },
  {
    name: 'rejects an IP group whose registration Secret does not exist',
    objects: () => [
      ...base(),
      ipGroup(
        'g',
        withField('registration', { mode: 'SBCInitiates', credentialsSecretRef: { name: 'creds' } }),
      ),
    ],
    kind: 'IPGroup',
    object: 'g',
    type: 'ResolvedRefs',
    reason: 'RefNotFound',
    message: 'spec.registration.credentialsSecretRef.name: Secret "creds" not found',
  },
  {
    name: 'rejects a SIP interface whose media realm does not exist',
    objects: () => [mediaRealm('other'), sipInterface('si')],
    kind: 'SipInterface',
    object: 'si',
    type: 'ResolvedRefs',
    reason: 'RefNotFound',
    message: 'spec.mediaRealmRef.name: MediaRealm "mr" not found',
  },
  {
    name: 'rejects a TLS interface whose certificate Secret does not exist',
    objects: () => [mediaRealm('mr'), sipInterface('si', withTransport('TLS'))],
    kind: 'SipInterface',
    object: 'si',
    type: 'ResolvedRefs',
    reason: 'RefNotFound',
    message: 'spec.tls.secretRef.name: Secret "tls" not found in namespace lab',
  },
  {
    name: 'rejects a TLS interface whose certificate Secret lacks the private key',
    objects: () => [mediaRealm('mr'), secret('tls', ['tls.crt']), sipInterface('si', withTransport('TLS'))],
    kind: 'SipInterface',
    object: 'si',
    type: 'ResolvedRefs',
    reason: 'InvalidSecret',
    message: 'spec.tls.secretRef.name: Secret "tls" lacks key tls.key',
  },
  {
    name: 'rejects mutual TLS whose client CA Secret does not exist',
    objects: () => [
      mediaRealm('mr'),
      secret('tls', ['tls.crt', 'tls.key']),
      sipInterface(
        'si',
        withTransport('TLS'),
        withField('tls', { secretRef: { name: 'tls' }, mutualAuth: true, clientCASecretRef: { name: 'ca' } }),
      ),
    ],
    kind: 'SipInterface',
    object: 'si',
    type: 'ResolvedRefs',
    reason: 'RefNotFound',
    message: 'spec.tls.clientCASecretRef.name: Secret "ca" not found',
  },
  {
    name: 'rejects a regular expression that does not compile',
    objects: () => [...base(), routingRule('r', 1, matching({ destinationNumber: { regex: '+49(' } }))],
    kind: 'RoutingRule',
    object: 'r',
    type: 'Accepted',
    reason: 'InvalidPattern',
    message: 'spec.match.destinationNumber.regex: invalid regular expression',
  },
  {
    name: 'rejects a malicious signature regex that does not compile',
    objects: () => [
      ...base(),
      sbc('s', withField('security', { maliciousSignatures: [{ name: 'x', match: { regex: '[' } }] })),
    ],
    kind: 'SessionBorderController',
    object: 's',
    type: 'Accepted',
    reason: 'InvalidPattern',
    message: 'spec.security.maliciousSignatures[0].match.regex',
  },
  {
    // Signalling pods refuse the whole generation for it (SBC_ERR_PIPELINE_CONFIG), so it must not
    // reach the snapshot as Accepted.
    name: 'rejects a manipulation of a header the SIP layers own',
    objects: () => [
      ...base(),
      ipGroup('g', withField('manipulations', [{ name: 'strip-via', header: 'Via', action: 'Remove' }])),
    ],
    kind: 'IPGroup',
    object: 'g',
    type: 'Accepted',
    reason: 'Invalid',
    message: 'spec.manipulations[0]: strip-via: Via is owned by the SIP layers',
  },
  {
    name: 'rejects a manipulation value with an unknown variable',
    objects: () => [
      ...base(),
      ipGroup(
        'g',
        withField('manipulations', [
          { name: 'ok', header: 'X-A', action: 'Set', value: 'a' },
          { name: 'pod', header: 'X-Pod', action: 'Set', value: `\${pod.name}` },
        ]),
      ),
    ],
    kind: 'IPGroup',
    object: 'g',
    type: 'Accepted',
    reason: 'Invalid',
    message: `spec.manipulations[1]: pod: unknown variable \${pod.name}`,
  },
  {
    name: 'rejects Add on a header that may appear only once',
    objects: () => [
      ...base(),
      ipGroup(
        'g',
        withField('manipulations', [{ name: 'mf', header: 'Max-Forwards', action: 'Add', value: '10' }]),
      ),
    ],
    kind: 'IPGroup',
    object: 'g',
    type: 'Accepted',
    reason: 'Invalid',
    message: 'spec.manipulations[0]: mf: Add would write a second Max-Forwards',
  },
  {
    name: 'rejects Remove of a header its messages must carry',
    objects: () => [
      ...base(),
      ipGroup(
        'g',
        withField('manipulations', [
          { name: 'no-event', header: 'Event', action: 'Remove', methods: ['NOTIFY', 'INFO'] },
        ]),
      ),
    ],
    kind: 'IPGroup',
    object: 'g',
    type: 'Accepted',
    reason: 'Invalid',
    message: 'spec.manipulations[0]: no-event: Remove would send NOTIFY without Event',
  },
]

describe('compile', () => {
  for (const c of cases) {
    it(c.name, () => {
      const { config, verdicts } = compile(c.objects(), { generation: 1 })
      const v = verdictOf(verdicts, c.kind, c.object)
      const cond = condition(v, c.type)
      assert.equal(cond.status, 'False')
      assert.equal(cond.reason, c.reason)
      assert.ok(cond.message.includes(c.message), `"${cond.message}" does not contain "${c.message}"`)
      assert.equal(v.included, false)
      const names = [...config.realms, ...config.interfaces, ...config.groups, ...config.routes].map(
        (x) => x.name,
      )
      if (c.kind !== 'SessionBorderController') assert.ok(!names.includes(c.object) || c.kind === 'IPProfile')
    })
  }

  it('compiles the uclab example without findings', () => {
    const { config, verdicts } = compile(loadExample('uclab'), { generation: 7 })
    assert.deepEqual(
      verdicts.flatMap((v) => v.findings),
      [],
    )
    assert.equal(config.generation, 7)
    assert.equal(config.namespace, 'uclab')
    assert.deepEqual(
      config.routes.map((r) => r.name),
      ['terminate-options', 'webex-to-twilio', 'twilio-to-webex'],
    )
    assert.deepEqual(config.routes[0]!.action, { type: 'reply', code: 200, reason: 'OK' })
    assert.equal(config.security.maliciousSignatures.length, 12)
    const webex = config.groups.find((g) => g.name === 'webex')!
    assert.equal(webex.maxConcurrentCalls, 250)
    assert.equal(webex.mediaRealm, 'mr-webex')
    assert.deepEqual(webex.proxies, [
      {
        address: 'eun01.sipconnect.bcld.webex.com',
        port: null,
        transport: 'TLS',
        resolution: 'SRV',
        priority: 0,
        weight: 1,
      },
    ])
    assert.equal(config.realms.find((r) => r.name === 'mr-twilio')!.advertisedAddress, '12.34.56.78')
    assert.equal(config.interfaces.find((i) => i.name === 'si-webex')!.tls!.mutualAuth, true)
    assert.doesNotThrow(() => validateConfig(config))
  })

  it('compiles the local example without findings', () => {
    const { config, verdicts } = compile(loadExample('local'), { generation: 1 })
    assert.deepEqual(
      verdicts.flatMap((v) => v.findings),
      [],
    )
    assert.deepEqual(
      config.groups.map((g) => g.name),
      ['carrier', 'pbx'],
    )
  })

  it('gives a deep-equal result for the same objects in any order', () => {
    const objects = loadExample('uclab')
    const a = compile(objects, { generation: 3 })
    const b = compile([...objects].reverse(), { generation: 3 })
    assert.deepEqual(b, a)
  })

  it('still compiles valid objects next to invalid ones', () => {
    const { config } = compile(
      [...base(), ipGroup('good'), ipGroup('bad', withField('ipProfileRef', { name: 'x' }))],
      { generation: 1 },
    )
    assert.deepEqual(
      config.groups.map((g) => g.name),
      ['good'],
    )
  })

  it('accepts UDP and TCP listeners on the same port of different interfaces', () => {
    const { verdicts } = compile([...base(), sipInterface('tcp', withTransport('TCP', 5060))], {
      generation: 1,
    })
    assert.equal(condition(verdictOf(verdicts, 'SipInterface', 'tcp'), 'Accepted').status, 'True')
  })

  it('accepts equal port ranges on different networks', () => {
    const { verdicts } = compile([...base(), mediaRealm('wan', withField('network', 'WAN'))], {
      generation: 1,
    })
    assert.equal(condition(verdictOf(verdicts, 'MediaRealm', 'wan'), 'Accepted').status, 'True')
  })

  it('keeps the older of two conflicting objects whatever their names', () => {
    const { config } = compile(
      [
        mediaRealm('mr'),
        mediaRealm('a-new', withMeta({ creationTimestamp: '2025-02-01T00:00:00Z' })),
        mediaRealm('z-old', withMeta({ creationTimestamp: '2025-01-01T00:00:00Z' })),
      ].map((o, i) => (i === 0 ? mediaRealm('mr', withPorts(1024, 1100)) : o)),
      { generation: 1 },
    )
    assert.deepEqual(
      config.realms.map((r) => r.name),
      ['mr', 'z-old'],
    )
  })

  it('warns about a rule shadowed by an earlier catch-all but keeps it', () => {
    const { config, verdicts } = compile(
      [
        ...base(),
        ipGroup('g'),
        routingRule('all', 1),
        routingRule('late', 2, routeTo('g'), matching({ methods: ['INVITE'] })),
      ],
      { generation: 1 },
    )
    const accepted = condition(verdictOf(verdicts, 'RoutingRule', 'late'), 'Accepted')
    assert.equal(accepted.status, 'True')
    assert.equal(accepted.reason, 'AcceptedWithWarnings')
    assert.ok(accepted.message.includes('rule can never match: RoutingRule "all" (order 1)'))
    assert.deepEqual(
      config.routes.map((r) => r.name),
      ['all', 'late'],
    )
  })

  it('does not warn when an earlier rule is narrower than a later one', () => {
    const { verdicts } = compile(
      [
        ...base(),
        ipGroup('g'),
        routingRule('options', 1, matching({ methods: ['OPTIONS'] })),
        routingRule('calls', 2, routeTo('g')),
      ],
      { generation: 1 },
    )
    assert.deepEqual(verdictOf(verdicts, 'RoutingRule', 'calls').findings, [])
  })

  it('resolves codec payload types: static ones, explicit ones, then free dynamic ones', () => {
    const { config } = compile(
      [
        ipProfile(
          'p',
          withField('media', {
            codecs: [{ name: 'PCMA' }, { name: 'opus', payloadType: 96 }, { name: 'telephone-event' }],
          }),
        ),
      ],
      { generation: 1 },
    )
    assert.deepEqual(
      config.profiles[0]!.codecs.map((c) => [c.name, c.payloadType, c.clockRate, c.channels, c.ptime]),
      [
        ['PCMA', 8, 8000, 1, 20],
        ['opus', 96, 48000, 2, 20],
        ['telephone-event', 97, 8000, 1, 20],
      ],
    )
  })

  it('applies the SBC NAT to interfaces on the NAT network', () => {
    const { config } = compile(
      [
        sbc('s', withField('nat', { publicAddress: '12.34.56.78', fqdn: 'sbc1.uclab.dev' })),
        mediaRealm('mr', withField('network', 'WAN')),
        sipInterface('si', withField('network', 'WAN')),
      ],
      { generation: 1 },
    )
    assert.deepEqual(config.interfaces[0]!.advertised, { address: '12.34.56.78', fqdn: 'sbc1.uclab.dev' })
    assert.equal(config.realms[0]!.advertisedAddress, '12.34.56.78')
  })

  it('compiles only the objects the SBC selector selects', () => {
    const { config, verdicts } = compile(
      [
        sbc('s', withField('selector', { matchLabels: { tier: 'edge' } })),
        mediaRealm('mr', withMeta({ labels: { tier: 'edge' } })),
        mediaRealm('other', withPorts(2000, 2100)),
      ],
      { generation: 1 },
    )
    assert.deepEqual(
      config.realms.map((r) => r.name),
      ['mr'],
    )
    assert.equal(
      verdicts.some((v) => v.name === 'other'),
      false,
    )
  })

  it('carries the object generation into its conditions', () => {
    const { verdicts } = compile([mediaRealm('mr', withMeta({ generation: 4 }))], { generation: 1 })
    assert.ok(verdictOf(verdicts, 'MediaRealm', 'mr').conditions.every((c) => c.observedGeneration === 4))
  })

  it('reports that references were not checked on an object that is not accepted', () => {
    const { verdicts } = compile([mediaRealm('mr', withPorts(3, 2))], { generation: 1 })
    const c = condition(verdictOf(verdicts, 'MediaRealm', 'mr'), 'ResolvedRefs')
    assert.equal(c.status, 'False')
    assert.ok(c.message.includes('not accepted'))
  })

  it('compiles the namespace of the only objects when there is no SBC', () => {
    const { config } = compile(base(), { generation: 1 })
    assert.equal(config.namespace, NS)
    assert.equal(config.controller, null)
    assert.equal(config.redis.mode, 'memory')
  })
})
