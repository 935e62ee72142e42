import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { SipUri } from '../uri/uri.ts'
import { stringifyUri } from '../uri/uri.ts'
import type { NameAddr } from './headers/name-addr.ts'
import { stringifyNameAddr } from './headers/name-addr.ts'
import type { Params } from './headers/params.ts'
import type { Via } from './headers/via.ts'
import { stringifyVia } from './headers/via.ts'
import type { SipMessage } from './message.ts'
import { SipRequest, SipResponse } from './message.ts'
import { parse } from './parse.ts'
import { serialize } from './serialize.ts'

// Generators for the grammar of RFC 3261 §25.1, kept small so the suite stays fast.
const alnum = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
const token = fc.string({ unit: fc.constantFrom(...`${alnum}-.!%*_+\`'~`), minLength: 1, maxLength: 12 })
const label = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'),
  minLength: 1,
  maxLength: 10,
})
const hostname = fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => l.join('.'))
const ipv6 = fc.ipV6().map((a) => `[${a}]`)
const host = fc.oneof(hostname, fc.ipV4(), ipv6)
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined })
const params: fc.Arbitrary<Params> = fc.array(fc.tuple(token, fc.option(token, { nil: null })), {
  maxLength: 3,
})
const uriParams: fc.Arbitrary<Params> = fc.array(fc.tuple(label, fc.option(label, { nil: null })), {
  maxLength: 3,
})
const user = fc.option(
  fc.string({ unit: fc.constantFrom(...`${alnum}-_.!~*'()&=+$,;?/`), minLength: 1, maxLength: 12 }),
  {
    nil: undefined,
  },
)
const sipUri: fc.Arbitrary<SipUri> = fc.record({
  kind: fc.constant('sip' as const),
  scheme: fc.constantFrom('sip' as const, 'sips' as const),
  user,
  password: fc.constant(undefined),
  host,
  port,
  params: uriParams,
  headers: fc.constant([]),
})
const displayName = fc.option(
  fc.string({ unit: fc.constantFrom(...`${alnum} "\\,;:<>@é€`), maxLength: 16 }),
  { nil: undefined },
)
const nameAddr: fc.Arbitrary<NameAddr> = fc.record({ displayName, uri: sipUri, params })
const via: fc.Arbitrary<Via> = fc.record({
  protocol: fc.constant('SIP'),
  version: fc.constant('2.0'),
  transport: fc.constantFrom('UDP', 'TCP', 'TLS', 'SCTP', 'WS'),
  host,
  port,
  params: fc.tuple(token, params).map(([b, p]): Params => [['branch', `z9hG4bK${b}`], ...p]),
})
const extension = fc.tuple(
  token.map((t) => `X-${t}`),
  fc.string({ unit: fc.constantFrom(...`${alnum} ;,=:<>"é`), maxLength: 30 }).map((s) => s.trim()),
)

interface Spec {
  request: boolean
  method: string
  uri: SipUri
  status: number
  reason: string
  vias: Via[]
  from: NameAddr
  to: NameAddr
  callId: string
  seq: number
  maxForwards: number | undefined
  contacts: NameAddr[]
  extensions: Array<[string, string]>
  body: Uint8Array
}

const spec: fc.Arbitrary<Spec> = fc.record({
  request: fc.boolean(),
  method: token,
  uri: sipUri,
  status: fc.integer({ min: 100, max: 699 }),
  reason: fc.string({ unit: fc.constantFrom(...`${alnum} -é`), maxLength: 20 }),
  vias: fc.array(via, { minLength: 1, maxLength: 3 }),
  from: nameAddr,
  to: nameAddr,
  callId: fc.tuple(token, fc.option(hostname)).map(([a, b]) => (b === null ? a : `${a}@${b}`)),
  seq: fc.nat({ max: 0xffffffff }),
  maxForwards: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
  contacts: fc.array(nameAddr, { maxLength: 2 }),
  extensions: fc.array(extension, { maxLength: 3 }),
  body: fc.uint8Array({ maxLength: 64 }),
})

function build(s: Spec): SipMessage {
  const m = s.request ? new SipRequest(s.method, s.uri) : new SipResponse(s.status, s.reason)
  const method = s.request ? s.method : 'INVITE'
  for (const v of s.vias) m.addHeader('Via', stringifyVia(v))
  m.addHeader('From', stringifyNameAddr(s.from))
  m.addHeader('To', stringifyNameAddr(s.to))
  m.addHeader('Call-ID', s.callId)
  m.addHeader('CSeq', `${s.seq} ${method}`)
  if (s.maxForwards !== undefined) m.addHeader('Max-Forwards', String(s.maxForwards))
  if (s.contacts.length > 0) m.addHeader('Contact', s.contacts.map(stringifyNameAddr).join(', '))
  for (const [n, v] of s.extensions) m.addHeader(n, v)
  m.body = Buffer.from(s.body)
  return m
}

/** Everything a message means, with URIs as text (parsed URIs are compared through it). */
function view(m: SipMessage): unknown {
  const na = (n: NameAddr) => ({ displayName: n.displayName, uri: stringifyUri(n.uri), params: n.params })
  return {
    start: m.kind === 'request' ? [m.method, stringifyUri(m.uri)] : [m.status, m.reason],
    vias: m.vias.map((v) => ({ ...v })),
    from: na(m.from!),
    to: na(m.to!),
    callId: m.callId,
    cseq: { ...m.cseq },
    maxForwards: m.maxForwards,
    contacts: m.contacts.map(na),
    headers: m.headerFields.filter((f) => f.key !== 'content-length').map((f) => [f.name, f.value]),
    body: [...m.body],
  }
}

describe('parse(serialize(m)) round trip (fast-check)', () => {
  it('a generated message reads back as the same message', () => {
    fc.assert(
      fc.property(spec, (s) => {
        const m = build(s)
        const wire = serialize(m)
        const back = parse(wire, { stream: true })
        assert.deepEqual(view(back), view(m))
        // and the parsed form re-serialises to the same octets
        assert.deepEqual(serialize(back), wire)
      }),
      { numRuns: 300 },
    )
  })

  it('the typed values survive stringify and parse', () => {
    fc.assert(
      fc.property(spec, (s) => {
        const back = parse(serialize(build(s)), { stream: true })
        assert.deepEqual(
          back.vias.map((v) => ({ ...v })),
          s.vias.map((v) => ({ ...v })),
        )
        assert.equal(back.from!.displayName, s.from.displayName)
        assert.equal(stringifyUri(back.to!.uri), stringifyUri(s.to.uri))
        assert.equal(back.cseq!.seq, s.seq)
        assert.deepEqual([...back.body], [...s.body])
      }),
      { numRuns: 200 },
    )
  })

  it('no input makes parse throw anything but SipParseError', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.nat({ max: 200 }),
        fc.uint8Array({ maxLength: 8 }),
        (junk, at, ins) => {
          // random bytes, and a valid message with random bytes spliced in
          for (const buf of [Buffer.from(junk), spliced(at, ins)]) {
            try {
              const m = parse(buf)
              void m.vias
            } catch (e) {
              assert.equal((e as { code?: string }).code, 'SBC_ERR_SIP_PARSE')
            }
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

const VALID = Buffer.from(
  'INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 3\r\n\r\nabc',
)
function spliced(at: number, ins: Uint8Array): Buffer {
  const i = at % VALID.length
  return Buffer.concat([VALID.subarray(0, i), ins, VALID.subarray(i)])
}
