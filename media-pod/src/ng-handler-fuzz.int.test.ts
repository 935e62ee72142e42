import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { type LoopbackNgHandler, loopbackNgHandler } from '../../e2e/media/loopback-ng-handler.ts'
import type { BencodeValue } from '../../lib/media/control/bencode.ts'
import { NgRemoteError } from '../../lib/media/control/errors.ts'
import { NgClient } from '../../lib/media/control/ng-client.ts'
import type { NgResponse } from '../../lib/media/control/ng-message.ts'
import { NgServerTransport } from '../../lib/media/control/ng-server-transport.ts'
import { SessionDescription } from '../../lib/sdp/session-description.ts'
import { fcParams } from '../../test/harness/fast-check.ts'
import {
  arbEol,
  arbMutation,
  arbSdp,
  type FuzzedSdp,
  joinSdp,
  mutate,
  SDP_CORPUS,
  type SdpEol,
  type SdpMutation,
} from '../../test/harness/sdp-fuzz.ts'

/*
 * The media pod's control surface end to end, against what any NG client may send: offers, answers,
 * re-offers, withdrawals and deletes carrying SDP from the corpus of test/harness/sdp-fuzz.ts with
 * random mutations, and random NG options, over UDP to a real NgServerTransport in front of a real
 * MediaNgHandler (real port allocator, relay sockets on 127.0.0.1). Every reply is ok (or load
 * limit) or an error with a reason other than `Internal error` (an untyped exception); an ok offer or
 * answer carries SDP we parse ourselves; a refused offer of a new call leaves no session and no port
 * in use, a refused re-offer or answer leaves the ports as they were, and after `delete` the handler
 * holds nothing. Each scenario is played against two such pods, one on the native relay (when it is
 * built) and one on the dgram relay, which must answer alike. No media is sent.
 */

const FLAGS = [
  'trust-address',
  'SIP-source-address',
  'symmetric',
  'asymmetric',
  'strict-source',
  'media-handover',
  'reset',
  'no-rtcp-attribute',
  'full-rtcp-attribute',
  'generate-mid',
  'strip-extmap',
  'single-codec',
  'reject-ICE',
  'loop-protect',
  'pad-crypto',
  'SDES-off',
  'codec-strip-PCMU',
  'codec-mask-opus',
  'replace-origin',
  'rtcp-mux-demux',
  'no-such-flag',
]

const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined })

/** NG keys of an offer or answer besides call-id, tags and sdp, as Kamailio or OpenSIPS may send them. */
const arbAllOptions: fc.Arbitrary<Record<string, BencodeValue | undefined>> = fc.record(
  {
    flags: fc.subarray(FLAGS, { maxLength: 5 }),
    ICE: fc.constantFrom('remove', 'force', 'force-relay', 'optional', 'bogus'),
    'ICE-lite': fc.constantFrom('forward', 'backward', 'both', 'off'),
    'rtcp-mux': fc.subarray(['offer', 'require', 'demux', 'accept', 'reject']),
    SDES: fc.subarray(['off', 'only-AES_CM_128_HMAC_SHA1_32', 'no-AES_CM_128_HMAC_SHA1_80', 'nonsense']),
    'transport protocol': fc.constantFrom(
      'RTP/AVP',
      'RTP/SAVP',
      'RTP/AVPF',
      'RTP/SAVPF',
      'UDP/TLS/RTP/SAVP',
      'accept',
      'RTP/AVP é',
      'x',
    ),
    codec: fc.record(
      {
        strip: fc.subarray(['PCMU', 'PCMA', 'all', 'opus', 'G729']),
        offer: fc.subarray(['PCMA', 'opus/48000/2', 'telephone-event', 'VP8']),
        mask: fc.subarray(['G722', 'H264/90000']),
        except: fc.subarray(['PCMU', 'telephone-event/8000']),
        transcode: fc.subarray(['G722']),
      },
      { requiredKeys: [] },
    ),
    ptime: fc.integer({ min: 0, max: 1000 }),
    'ptime-reverse': fc.integer({ min: 0, max: 1000 }),
    'media address': fc.constantFrom('127.0.0.1', '::1', '0.0.0.0', 'not-an-ip'),
    'received from': fc.constantFrom(['IP4', '127.0.0.1'], ['IP6', '::1'], ['IP4', 'bogus']),
    direction: fc.constantFrom(['lan', 'lan'], ['lan'], [], ['wan', 'lan']),
    interface: fc.constantFrom('lan', 'lan', 'nowhere'),
    replace: fc.subarray(['origin', 'session-connection', 'force-increment-sdp-ver', 'zero-address']),
    'payload types': fc.dictionary(
      fc.constantFrom('opus/48000/2', 'PCMU/8000', 'telephone-event/8000', 'VP8/90000', 'bad', 'x/0'),
      fc.integer({ min: 96, max: 127 }),
      { maxKeys: 3 },
    ),
    supports: fc.constant(['load limit']),
    label: fc.constantFrom('caller', 'é'),
  },
  { requiredKeys: [] },
)

/** A few of those keys at a time, so that most requests get past the options to the SDP. */
const arbOptions = fc
  .tuple(arbAllOptions, fc.integer({ min: 0, max: 3 }))
  .map(([all, count]) => Object.fromEntries(Object.entries(all).slice(0, count)))

/**
 * An answer made from the offer we sent on (what a callee does: it picks among our a=crypto lines and
 * codecs), mutated like the corpus; with a corpus body instead, an SRTP answer would almost never pick
 * one of our keys, and the answer's keying would go untested.
 */
interface EchoAnswer {
  echo: true
  mutations: SdpMutation[]
  eol: SdpEol
}

const arbEcho: fc.Arbitrary<EchoAnswer> = fc.record({
  echo: fc.constant(true as const),
  mutations: fc.array(arbMutation(40), { maxLength: 3 }),
  eol: arbEol,
})

function echoed(offerReply: string, a: EchoAnswer): string {
  const lines = offerReply.split(/\r?\n/)
  if (lines.at(-1) === '') lines.pop()
  return joinSdp(mutate(lines, a.mutations), a.eol)
}

interface Scenario {
  offer: FuzzedSdp
  offerOptions: Record<string, BencodeValue | undefined>
  answer: FuzzedSdp | EchoAnswer | undefined
  answerOptions: Record<string, BencodeValue | undefined>
  reoffer: FuzzedSdp | undefined
  withdraw: boolean
}

const arbScenario: fc.Arbitrary<Scenario> = fc.record({
  offer: arbSdp(3),
  offerOptions: arbOptions,
  answer: opt(fc.oneof({ weight: 2, arbitrary: arbEcho }, { weight: 1, arbitrary: arbSdp(3) })),
  answerOptions: arbOptions,
  reoffer: opt(arbSdp(3)),
  withdraw: fc.boolean(),
})

/** A corpus body with these mutations, CRLF-terminated. */
function corpus(name: string, mutations: SdpMutation[] = []): FuzzedSdp {
  const base = SDP_CORPUS[name]
  assert.ok(base, `no corpus body '${name}'`)
  return { name, mutations, eol: 'crlf', text: joinSdp(mutate(base, mutations), 'crlf') }
}

const scenario = (s: Partial<Scenario> & Pick<Scenario, 'offer'>): Scenario => ({
  offerOptions: {},
  answer: undefined,
  answerOptions: {},
  reoffer: undefined,
  withdraw: false,
  ...s,
})

/** The c= line of the IPv6 body, its address field set to `address`. */
const ipv6At = (address: string): SdpMutation => ({ kind: 'field', at: 3, field: 2, value: address })

/**
 * Counterexamples the property found, kept as regression cases. The native relay refused to be
 * programmed by an answer that the dgram relay took: a codec clock above 192 kHz in the answer (only
 * the offer's were dropped), and a zoned IPv6 address (`fe80::1%lo`) of either party; both now get
 * the same answer from both relays, the address already at the offer.
 */
const FOUND: [Scenario][] = [
  [
    scenario({
      offer: corpus('audio PCMU/PCMA/telephone-event'),
      answer: {
        echo: true,
        mutations: [{ kind: 'insert', at: 8, line: 'a=rtpmap:0 PCMU/400000' }],
        eol: 'crlf',
      },
    }),
  ],
  [
    scenario({
      offer: corpus('audio PCMU/PCMA/telephone-event'),
      answer: corpus('IPv6', [ipv6At('fe80::1%lo')]),
    }),
  ],
  [
    scenario({
      offer: corpus('IPv6', [ipv6At('fe80::1%lo')]),
      answer: { echo: true, mutations: [], eol: 'crlf' },
    }),
  ],
]

/** The reply, with an error reply as a value rather than the client's exception. */
async function send(ng: NgClient, dict: Record<string, unknown>): Promise<NgResponse> {
  try {
    return await ng.request(dict)
  } catch (e) {
    if (e instanceof NgRemoteError) return { result: 'error', 'error-reason': e.reason }
    throw e
  }
}

/**
 * Checks a reply and returns its outcome for the trace: the result, and an error's reason with its
 * numbers and quotes blanked (port ranges, and our keys quoted from a mangled answer, differ between
 * the two handlers). An ok offer or answer
 * must carry SDP that parses.
 */
function outcome(r: NgResponse, what: string, withSdp: boolean): string {
  assert.ok(['ok', 'error', 'load limit'].includes(r.result), `${what}: result ${r.result}`)
  if (r.result === 'error') {
    const reason = r['error-reason'] ?? ''
    assert.notEqual(reason, 'Internal error', `${what}: an untyped exception escaped the handler`)
    assert.ok(reason.length > 0, `${what}: an error without a reason`)
    return `${what}: error ${reason.replace(/'[^']*'/g, "'…'").replace(/\d+/g, 'N')}`
  }
  if (r.result === 'ok' && withSdp) {
    assert.equal(typeof r.sdp, 'string', `${what}: ok without sdp`)
    SessionDescription.parse(r.sdp as string)
  }
  return `${what}: ${r.result}`
}

/** One media pod's control side: a handler on its own relay, behind its own NG server and client. */
interface Pod {
  readonly name: string
  readonly h: LoopbackNgHandler
  readonly server: NgServerTransport
  readonly ng: NgClient
}

async function startPod(backend: 'native' | 'dgram'): Promise<Pod | undefined> {
  const h = loopbackNgHandler({ ports: 256, backend, mediaTimeoutMs: 0 })
  if (backend === 'native' && !h.native) {
    await h.close()
    return undefined
  }
  const server = await NgServerTransport.listen({ host: '127.0.0.1', port: 0, handler: h.handler })
  const ng = await NgClient.connect({ host: '127.0.0.1', port: server.address().port })
  return { name: backend, h, server, ng }
}

let n = 0

/** Plays a scenario against one pod, checking it as it goes; returns the outcome of each request. */
async function play(pod: Pod, s: Scenario): Promise<string[]> {
  const { h, ng } = pod
  const trace: string[] = []
  const empty = (when: string) => {
    assert.equal(h.handler.sessionCount, 0, `${pod.name}, ${when}: a session is left`)
    assert.equal(h.allocator.counts().inUse, 0, `${pod.name}, ${when}: ports are left in use`)
  }
  const callId = `fuzz-${++n}`
  const ids = { 'call-id': callId, 'from-tag': 'ta' }
  empty('before the offer')
  const offer = await send(ng, { command: 'offer', ...ids, ...s.offerOptions, sdp: s.offer.text })
  trace.push(outcome(offer, 'offer', true))
  if (offer.result !== 'ok') {
    empty('after a refused offer')
    return trace
  }
  if (s.answer) {
    const before = h.allocator.counts().inUse
    const answer = await send(ng, {
      command: 'answer',
      ...ids,
      'to-tag': 'tb',
      ...s.answerOptions,
      sdp: 'echo' in s.answer ? echoed(offer.sdp as string, s.answer) : s.answer.text,
    })
    trace.push(outcome(answer, 'answer', true))
    if (answer.result !== 'ok')
      assert.equal(
        h.allocator.counts().inUse,
        before,
        `${pod.name}: a refused answer changed the ports in use`,
      )
  }
  if (s.reoffer) {
    const before = h.allocator.counts().inUse
    const re = await send(ng, {
      command: 'offer',
      ...ids,
      'to-tag': 'tb',
      ...s.offerOptions,
      sdp: s.reoffer.text,
    })
    trace.push(outcome(re, 're-offer', true))
    if (re.result !== 'ok')
      assert.equal(
        h.allocator.counts().inUse,
        before,
        `${pod.name}: a refused re-offer changed the ports in use`,
      )
    else if (s.withdraw) {
      trace.push(outcome(await send(ng, { command: 'withdraw offer', ...ids }), 'withdraw offer', false))
      // Back to before the re-offer: sections it added go with it, the call's own stay.
      assert.equal(h.allocator.counts().inUse, before, `${pod.name}: a withdrawn re-offer left ports in use`)
    }
  }
  trace.push(outcome(await send(ng, { command: 'query', 'call-id': callId }), 'query', false))
  const del = await send(ng, { command: 'delete', 'call-id': callId, 'from-tag': 'ta' })
  assert.equal(del.result, 'ok', `${pod.name}: delete: ${del['error-reason']}`)
  empty('after delete')
  return trace
}

describe('media pod NG handler under fuzzed requests', function () {
  this.timeout(120_000)
  const pods: Pod[] = []

  before(async () => {
    for (const backend of ['native', 'dgram'] as const) {
      const pod = await startPod(backend)
      if (pod) pods.push(pod)
    }
  })

  after(async () => {
    for (const { ng, server, h } of pods) {
      await ng.close()
      await server.close()
      await h.close()
    }
  })

  it('answers every request ok or with a typed error, the same on both relays, and leaks no session or port', async () => {
    await fc.assert(
      fc.asyncProperty(arbScenario, async (s) => {
        const traces: string[][] = []
        for (const pod of pods) traces.push(await play(pod, s))
        // The relay is the pods' only difference: it must not decide whether a request succeeds.
        for (const t of traces.slice(1))
          assert.deepEqual(t, traces[0], 'the native and dgram relays disagree')
      }),
      fcParams(250, { examples: FOUND }),
    )
  })
})
