/**
 * The parse workloads shared by `sip-parse.bench.ts` (CPU time) and `sip-parse.instructions.ts`
 * (instruction counts): parse a message and read what routing reads, with ours and with npm `sip`.
 */
import { createRequire } from 'node:module'
import { nameAddrTag } from '../lib/sip/message/headers/name-addr.ts'
import { viaBranch } from '../lib/sip/message/headers/via.ts'
import { parse } from '../lib/sip/message/parse.ts'

const require = createRequire(import.meta.url)
const sip = require('sip') as {
  parse(b: Buffer): { method?: string; headers: Record<string, unknown> } | undefined
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
