/**
 * The workloads shared by `sip-parse.bench.ts`, `sip-serialize.bench.ts` (CPU time) and
 * `sip-parse.instructions.ts` (instruction counts): parse a message and read what routing reads,
 * with ours and with npm `sip`; serialize the messages an SBC sends.
 */
import { createRequire } from 'node:module'
import { INVITE_WITH_SDP, OK_200_WITH_SDP } from '../lib/sip/fixtures/bench-messages.ts'
import { createResponse } from '../lib/sip/message/create-response.ts'
import { nameAddrTag } from '../lib/sip/message/headers/name-addr.ts'
import { viaBranch } from '../lib/sip/message/headers/via.ts'
import type { SipMessage } from '../lib/sip/message/message.ts'
import { parse } from '../lib/sip/message/parse.ts'

const require = createRequire(import.meta.url)
const sip = require('sip') as {
  parse(b: Buffer): { method?: string; headers: Record<string, unknown> } | undefined
  stringify(m: object): string
}

/** Accumulates something from every parse, so that no work can be optimised away. */
export const sink = { value: 0 }

/** Ours, to the point routing can use it: every field the router and transaction layer read. */
export function ours(buf: Buffer): void {
  const m = parse(buf)
  const via = m.topVia!
  let s = (viaBranch(via)?.length ?? 0) + via.host.length
  s += m.callId!.length + m.cseq!.seq + nameAddrTag(m.from!)!.length + (m.toTag?.length ?? 0)
  s += m.contacts.length + (m.maxForwards ?? 0) + (m.contentLength ?? 0) + m.body.length
  if (m.kind === 'request') s += m.method.length + (m.uri.kind === 'sip' ? m.uri.host.length : 0)
  else s += m.status
  sink.value += s
}

/** The `sip` package: its parse() already parses Via, From, To, CSeq, Contact, Content-Length. */
export function theirs(buf: Buffer): void {
  const m = sip.parse(buf)
  if (m === undefined) throw new Error('sip.parse failed')
  const h = m.headers as {
    via: Array<{ params: { branch?: string }; host: string }>
    'call-id': string
    cseq: { seq: number }
    from: { params: { tag?: string } }
    to: { params: { tag?: string } }
    contact?: unknown[]
    'max-forwards'?: string
    'content-length'?: number
  }
  let s = (h.via[0]!.params.branch?.length ?? 0) + h.via[0]!.host.length
  s += h['call-id'].length + h.cseq.seq + (h.from.params.tag?.length ?? 0) + (h.to.params.tag?.length ?? 0)
  s += (h.contact?.length ?? 0) + Number(h['max-forwards'] ?? 0) + (h['content-length'] ?? 0)
  sink.value += s
}

/** The INVITE edited the way an SBC edits a forwarded one: own Via on top, Max-Forwards
 * decremented, Record-Route removed, body replaced (SDP rewritten for the media relay). */
export function editedInvite(): SipMessage {
  const m = parse(INVITE_WITH_SDP)
  m.prependVia({
    protocol: 'SIP',
    version: '2.0',
    transport: 'UDP',
    host: '203.0.113.7',
    port: 5060,
    params: [
      ['branch', 'z9hG4bK-sbc-0123456789abcdef'],
      ['rport', null],
    ],
  })
  m.setParsed('max-forwards', (m.maxForwards ?? 70) - 1)
  m.removeHeader('Record-Route')
  m.body = Buffer.from(m.body.toString('latin1').replaceAll('198.51.100.20', '203.0.113.7'), 'latin1')
  return m
}

/** A 200 OK built from the INVITE with createResponse, plus Contact and SDP. */
export function builtOk(): SipMessage {
  const req = parse(INVITE_WITH_SDP)
  if (req.kind !== 'request') throw new Error('not a request')
  const ok = createResponse(req, 200, { toTag: '9fxced76sl' })
  ok.addHeader('Contact', '<sip:sbc@203.0.113.7:5060;transport=udp>')
  ok.addHeader('Content-Type', 'application/sdp')
  ok.body = parse(OK_200_WITH_SDP).body
  return ok
}

/** The received 200 OK as npm `sip` parses it, for its stringify. */
export const theirOk: object = sip.parse(OK_200_WITH_SDP)!

/** npm `sip`'s stringify of a message it parsed. */
export function theirStringify(m: object): void {
  sink.value += sip.stringify(m).length
}
