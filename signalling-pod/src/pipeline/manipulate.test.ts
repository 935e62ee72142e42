import assert from 'node:assert/strict'
import type { GroupConfig, SbcConfig } from '../../../lib/config/model.ts'
import { SipResponse } from '../../../lib/sip/message/message.ts'
import { request, uclabConfig } from './fixtures.ts'
import { advertisedAddress, advertisedHost, applyIdentity, contactUri } from './identity.ts'
import {
  CompiledPipeline,
  ManipulationError,
  manipulateInbound,
  manipulateOutbound,
  PipelineConfigError,
} from './pipeline.ts'

/** A variable reference as written in a manipulation value. */
const v = (name: string) => `\${${name}}`

type Manipulation = GroupConfig['manipulations'][number]
const uclab = () => CompiledPipeline.from(uclabConfig())
const withRule =
  (m: Partial<Manipulation>) =>
  (c: SbcConfig): void => {
    c.groups
      .find((g) => g.name === 'siptrunk')!
      .manipulations.push({
        name: 'm',
        direction: 'Outbound',
        methods: [],
        header: 'X-Test',
        action: 'Set',
        value: 'v',
        ...m,
      })
  }

describe('manipulation step (uclab ManSet 2)', () => {
  const cases: {
    name: string
    group: string
    method: string
    check: (r: ReturnType<typeof request>) => void
  }[] = [
    {
      name: 'rewrites only the Contact host toward webex',
      group: 'webex',
      method: 'INVITE',
      check: (r) =>
        assert.equal(r.header('contact'), '<sip:+15551230000@sbc1.uclab.dev:5062;transport=tls>;expires=60'),
    },
    {
      name: 'rewrites the Contact host toward twilio',
      group: 'twilio',
      method: 'INVITE',
      check: (r) => assert.match(r.header('contact')!, /@sbc1\.uclab\.dev:5062;/),
    },
    {
      name: 'leaves From and To of an INVITE alone',
      group: 'webex',
      method: 'INVITE',
      check: (r) => {
        assert.equal(r.header('from'), '<sip:+15559870000@10.99.99.204>;tag=abc')
        assert.equal(r.header('to'), '<sip:+15551230000@10.0.40.248>')
      },
    },
    {
      name: 'rewrites From and To hosts on OPTIONS toward webex, keeping the tag',
      group: 'webex',
      method: 'OPTIONS',
      check: (r) => {
        assert.equal(r.header('from'), '<sip:+15559870000@sbc1.uclab.dev>;tag=abc')
        assert.equal(r.header('to'), '<sip:+15551230000@eun01.sipconnect.bcld.webex.com>')
      },
    },
    {
      name: 'rewrites the To host on OPTIONS toward twilio to the termination domain',
      group: 'twilio',
      method: 'OPTIONS',
      check: (r) => assert.equal(r.header('to'), '<sip:+15551230000@uclabdev.pstn.twilio.com>'),
    },
    {
      name: 'applies no rule toward the PBX, which has no ManSet',
      group: 'siptrunk',
      method: 'OPTIONS',
      check: (r) => assert.equal(r.header('from'), '<sip:+15559870000@10.99.99.204>;tag=abc'),
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const r = request(c.method, {
        uri: 'sip:+15551230000@10.0.40.248',
        from: '<sip:+15559870000@10.99.99.204>',
        contact: '<sip:+15551230000@10.99.99.204:5062;transport=tls>;expires=60',
      })
      manipulateOutbound(uclab(), c.group, r)
      c.check(r)
    })
  }

  it('adds Max-Forwards 70 to an incoming OPTIONS lacking it', () => {
    const r = request('OPTIONS', { maxForwards: null })
    assert.equal(manipulateInbound(uclab(), 'webex', r), 1)
    assert.equal(r.maxForwards, 70)
  })

  it('keeps the Max-Forwards of an incoming OPTIONS that has one', () => {
    const r = request('OPTIONS', { maxForwards: 12 })
    assert.equal(manipulateInbound(uclab(), 'twilio', r), 0)
    assert.equal(r.maxForwards, 12)
  })

  it('matches a response on its CSeq method', () => {
    const res = new SipResponse(200, 'OK')
    res.addHeader('From', '<sip:a@10.0.0.1>;tag=1').addHeader('To', '<sip:b@10.0.0.2>;tag=2')
    res.addHeader('CSeq', '1 OPTIONS').addHeader('Contact', '<sip:b@10.0.0.2>')
    manipulateOutbound(uclab(), 'webex', res)
    assert.equal(res.header('contact'), '<sip:b@sbc1.uclab.dev>')
    assert.equal(res.header('from'), '<sip:a@sbc1.uclab.dev>;tag=1')
  })

  const response = (status: number, method: string) => {
    const res = new SipResponse(status, status === 180 ? 'Ringing' : 'OK')
    res.addHeader('From', '<sip:a@10.0.0.1>;tag=1').addHeader('To', '<sip:b@10.0.0.2>;tag=2')
    res.addHeader('CSeq', `1 ${method}`).addHeader('Server', 'pbx-9000').addHeader('Subject', 'original')
    return res
  }
  const rules = (...ms: Partial<Manipulation>[]) =>
    CompiledPipeline.from(
      uclabConfig((c) => {
        for (const m of ms) withRule(m)(c)
      }),
    )

  it('applies Inbound rules to responses and in-dialog requests received from the group, by CSeq method', () => {
    const p = rules(
      { name: 'subject', direction: 'Inbound', header: 'Subject', action: 'Set', value: 'from the trunk' },
      {
        name: 'server',
        direction: 'Inbound',
        methods: ['INVITE'],
        header: 'Server',
        action: 'Remove',
        value: null,
      },
      {
        name: 'bye-only',
        direction: 'Inbound',
        methods: ['BYE'],
        header: 'X-Bye',
        action: 'Add',
        value: '1',
      },
    )
    const ringing = response(180, 'INVITE')
    assert.equal(manipulateInbound(p, 'siptrunk', ringing), 2)
    assert.deepEqual([ringing.header('subject'), ringing.hasHeader('server')], ['from the trunk', false])
    assert.equal(ringing.hasHeader('x-bye'), false, 'a BYE rule leaves the INVITE response alone')
    const byeOk = response(200, 'BYE')
    assert.equal(manipulateInbound(p, 'siptrunk', byeOk), 2)
    assert.deepEqual([byeOk.header('server'), byeOk.header('x-bye')], ['pbx-9000', '1'])
    const bye = request('BYE', { headers: { Subject: 'x' } })
    assert.equal(manipulateInbound(p, 'siptrunk', bye), 2)
    assert.deepEqual([bye.header('subject'), bye.header('x-bye')], ['from the trunk', '1'])
    // The group's Outbound direction is a different rule set.
    assert.equal(manipulateOutbound(p, 'siptrunk', response(200, 'INVITE')), 0)
  })

  it('applies no rule for the unclassified caller or a group no longer configured', () => {
    const p = rules({ name: 'subject', direction: 'Inbound', header: 'Subject', action: 'Set', value: 'x' })
    const r = response(200, 'INVITE')
    assert.equal(manipulateInbound(p, '', r), 0)
    assert.equal(manipulateOutbound(p, 'gone-in-this-generation', r), 0)
    assert.equal(r.header('subject'), 'original')
  })

  it('leaves a Contact: * alone', () => {
    const r = request('REGISTER', { contact: '*' })
    manipulateOutbound(uclab(), 'webex', r)
    assert.equal(r.header('contact'), '*')
  })

  it('refuses with a typed error rather than rewrite a malformed Contact', () => {
    const r = request('INVITE')
    r.setHeader('Contact', '<sip:a@10.0.0.1')
    assert.throws(() => manipulateOutbound(uclab(), 'webex', r), ManipulationError)
    assert.equal(r.header('contact'), '<sip:a@10.0.0.1')
  })
})

describe('manipulation rules checked at compile time', () => {
  const accepted: [string, Partial<Manipulation>, (r: ReturnType<typeof request>) => void][] = [
    [
      'substitutes the sbc.fqdn variable',
      { header: 'X-Sbc', value: `host=${v('sbc.fqdn')}` },
      (r) => assert.equal(r.header('x-sbc'), 'host=sbc1.uclab.dev'),
    ],
    [
      'adds a second line with Add',
      { header: 'Allow', action: 'Add', value: 'INFO' },
      (r) => assert.deepEqual(r.headerValues('allow'), ['INVITE', 'INFO']),
    ],
    [
      'removes every line with Remove',
      { header: 'Allow', action: 'Remove', value: null },
      (r) => assert.equal(r.hasHeader('allow'), false),
    ],
    [
      'rewrites the Request-URI host',
      { header: 'Request-URI', action: 'ReplaceHost', value: '2001:db8::1' },
      (r) => assert.equal(r.startLine(), 'INVITE sip:100@[2001:db8::1] SIP/2.0'),
    ],
  ]
  for (const [name, m, check] of accepted) {
    it(name, () => {
      const r = request('INVITE', { uri: 'sip:100@10.0.40.204', headers: { Allow: 'INVITE' } })
      manipulateOutbound(CompiledPipeline.from(uclabConfig(withRule(m))), 'siptrunk', r)
      check(r)
    })
  }

  const refused: [string, Partial<Manipulation>, RegExp][] = [
    ['refuses Via, which the transaction layer owns', { header: 'Via' }, /owned by the SIP layers/],
    [
      'refuses Set on From, which would lose the tag',
      { header: 'From', value: '<sip:x@y>' },
      /only ReplaceHost/,
    ],
    [
      'refuses ReplaceHost on a header without URIs',
      { header: 'Subject', action: 'ReplaceHost', value: 'a.b' },
      /URI-bearing/,
    ],
    [
      'refuses a ReplaceHost value that is not a host',
      { header: 'Contact', action: 'ReplaceHost', value: 'a b' },
      /not a host/,
    ],
    [
      'refuses a non-numeric Max-Forwards',
      { header: 'Max-Forwards', value: 'seventy' },
      /not a valid Max-Forwards/,
    ],
    [
      'refuses Add on Max-Forwards, which may appear only once (RFC 3261 §7.3)',
      { header: 'Max-Forwards', action: 'Add', value: '10' },
      /Add would write a second Max-Forwards/,
    ],
    [
      'refuses Remove of Max-Forwards, which every request must carry (RFC 3261 §8.1.1)',
      { header: 'Max-Forwards', action: 'Remove', value: null },
      /Remove would send every request without Max-Forwards/,
    ],
    ['refuses an unknown variable', { value: v('pod.name') }, /unknown variable/],
    ['refuses a header name that is not a token', { header: 'X Bad' }, /not a header name/],
    ['refuses a value with a line break', { value: 'a\r\nVia: x' }, /control characters/],
  ]
  for (const [name, m, why] of refused) {
    it(name, () => {
      assert.throws(
        () => CompiledPipeline.from(uclabConfig(withRule(m))),
        (e: unknown) =>
          e instanceof PipelineConfigError && e.code === 'SBC_ERR_PIPELINE_CONFIG' && why.test(e.message),
      )
    })
  }
})

describe('identity and NAT helpers', () => {
  it('advertises the FQDN toward webex, the bind address toward the PBX', () => {
    const p = uclab()
    assert.deepEqual(
      ['webex', 'twilio', 'siptrunk'].map((g) => [advertisedHost(p, g), advertisedAddress(p, g)]),
      [
        ['sbc1.uclab.dev', '12.34.56.78'],
        ['sbc1.uclab.dev', '12.34.56.78'],
        ['10.0.40.204', '10.0.40.204'],
      ],
    )
  })

  it('builds the Contact from the group contact user, listener port and transport', () => {
    const p = uclab()
    assert.equal(contactUri(p, 'webex', 'TLS'), 'sip:sbc1.uclab.dev@sbc1.uclab.dev:5062;transport=tls')
    assert.equal(contactUri(p, 'siptrunk', 'UDP'), 'sip:10.0.40.204:5060')
  })

  const identity: [string, string, Record<string, string>, Record<string, string | undefined>][] = [
    [
      'adds a P-Asserted-Identity toward webex (Add)',
      'webex',
      {},
      { 'p-asserted-identity': '<sip:+15559870000@sbc1.uclab.dev>' },
    ],
    [
      'keeps an existing P-Asserted-Identity toward webex',
      'webex',
      { 'P-Asserted-Identity': '<sip:+1@x>' },
      { 'p-asserted-identity': '<sip:+1@x>' },
    ],
    [
      'passes identity headers through toward twilio',
      'twilio',
      { 'P-Asserted-Identity': '<sip:+1@x>', Privacy: 'id' },
      { 'p-asserted-identity': '<sip:+1@x>', privacy: 'id' },
    ],
  ]
  for (const [name, group, headers, want] of identity) {
    it(name, () => {
      const r = request('INVITE', { headers })
      applyIdentity(uclab(), group, r)
      for (const [k, v] of Object.entries(want)) assert.equal(r.header(k), v)
    })
  }

  it('removes identity and privacy headers when the profile says Remove', () => {
    const p = CompiledPipeline.from(
      uclabConfig((c) => {
        c.profiles.find((x) => x.name === 'siptrunk')!.identity = {
          assertedIdentity: 'Remove',
          privacy: 'Remove',
        }
      }),
    )
    const r = request('INVITE', {
      headers: { 'P-Asserted-Identity': '<sip:+1@x>', 'P-Preferred-Identity': '<sip:+1@x>', Privacy: 'id' },
    })
    applyIdentity(p, 'siptrunk', r)
    assert.deepEqual(
      [r.hasHeader('p-asserted-identity'), r.hasHeader('p-preferred-identity'), r.hasHeader('privacy')],
      [false, false, false],
    )
  })

  it('asks for privacy with Privacy: id when the profile says Restrict', () => {
    const p = CompiledPipeline.from(
      uclabConfig((c) => {
        c.profiles.find((x) => x.name === 'siptrunk')!.identity.privacy = 'Restrict'
      }),
    )
    const r = request('INVITE')
    applyIdentity(p, 'siptrunk', r)
    assert.equal(r.header('privacy'), 'id')
  })
})
