import { randomBytes } from 'node:crypto'
import type { DialogLeg } from '../../../lib/sip/dialog/dialog-state.ts'
import { createResponse } from '../../../lib/sip/message/create-response.ts'
import { type SipMessage, SipRequest, type SipResponse } from '../../../lib/sip/message/message.ts'
import type { Destination } from '../../../lib/sip/transport/transport.ts'
import type { SipInterfaceRuntime } from './sip-interface-runtime.ts'

/** Branch prefix of every request kube-sbc originates; used for loop detection. */
export const BRANCH_PREFIX = 'z9hG4bKsbc'

/**
 * Cryptographically random bytes taken from a pool refilled 4 KB at a time: the same CSPRNG output
 * as one `randomBytes` per identifier (RFC 3261 §8.1.1.4 recommends cryptographically random
 * Call-IDs, §19.3 requires it of tags), at a fraction of the cost (one call per ~150 identifiers
 * instead of one per identifier; docs/benchmarks/signalling.md). Bytes are never handed out twice.
 */
const POOL_BYTES = 4096
let pool = Buffer.alloc(0)
let poolAt = 0

function random(n: number, encoding: 'hex' | 'base64url'): string {
  if (poolAt + n > pool.length) {
    pool = randomBytes(POOL_BYTES)
    poolAt = 0
  }
  const s = pool.toString(encoding, poolAt, poolAt + n)
  poolAt += n
  return s
}

/** A new RFC 3261 branch: unique in space and time (§8.1.1.7), 64 random bits. */
export function newBranch(): string {
  return `${BRANCH_PREFIX}${random(8, 'hex')}`
}

/** The SBC's own id of a call (the Redis hash tag; DialogState.id pattern). */
export function newCallStateId(): string {
  return random(12, 'base64url')
}

/** A tag the SBC puts in a dialog (RFC 3261 §19.3: at least 32 random bits; 64 here). */
export function newTag(): string {
  return random(8, 'hex')
}

/** A fresh Call-ID for a B leg: random, nothing of the A leg in it. */
export function newCallId(): string {
  return `${random(12, 'hex')}@sbc`
}

/**
 * Headers that are end-to-end and carried across the B2BUA. Everything else (Via, Route,
 * Record-Route, Contact, Call-ID, tags, CSeq, Max-Forwards) is rebuilt per leg, so nothing of one
 * side's topology reaches the other.
 */
export const PASS_HEADERS = [
  'content-type',
  'content-disposition',
  'content-encoding',
  'allow',
  'supported',
  'require',
  'rseq',
  'rack',
  'event',
  'subscription-state',
  'refer-to',
  'referred-by',
  'replaces',
  'accept',
  'allow-events',
  'session-expires',
  'min-se',
  'reason',
  'retry-after',
  'info-package',
  'recv-info',
  'p-asserted-identity',
  'privacy',
  'subject',
  'user-agent',
  'server',
  'warning',
] as const

const PASS: ReadonlySet<string> = new Set(PASS_HEADERS)

/**
 * Copies the pass-through headers and the body from `from` to `to`. The fields keep their value and
 * parse cache (`addFieldOf`: no re-check of a value already parsed or checked, no second parse).
 */
export function copyEndToEnd(from: SipMessage, to: SipMessage): void {
  const fields = from.headerFields
  for (let i = 0; i < fields.length; i++) if (PASS.has(fields[i]!.key)) to.addFieldOf(fields[i]!)
  if (from.body.length > 0) to.body = Buffer.from(from.body)
}

/** Where requests to the leg's peer go (the address its messages came from / the proxy). */
export function legDestination(leg: DialogLeg, podName: string): Destination {
  return {
    transport: leg.peer.transport,
    address: leg.peer.address,
    port: leg.peer.port,
    ...(leg.peer.connectionId !== undefined && leg.peer.connectionPod === podName
      ? { connectionId: leg.peer.connectionId }
      : {}),
  }
}

/** Methods whose requests and 2xx carry a Contact (target refresh and dialog creating). */
export const CONTACT_METHODS = new Set(['INVITE', 'UPDATE', 'SUBSCRIBE', 'NOTIFY', 'REFER'])

/**
 * An in-dialog request on `leg`, built from the stored state only (RFC 3261 §12.2.1.1): Request-URI
 * the remote target, Route the route set, From/To/Call-ID from the leg, our Via and Contact.
 */
export function buildInDialogRequest(
  method: string,
  leg: DialogLeg,
  cseq: number,
  iface: SipInterfaceRuntime,
  maxForwards: number,
  contactUser: string,
): SipRequest {
  const req = new SipRequest(method, leg.remoteTarget)
  req.addHeader('Via', iface.via(leg.peer.transport, newBranch()))
  req.addHeader('Max-Forwards', String(maxForwards))
  req.addHeader('From', `<${leg.localUri}>;tag=${leg.localTag}`)
  req.addHeader('To', leg.remoteTag === '' ? `<${leg.remoteUri}>` : `<${leg.remoteUri}>;tag=${leg.remoteTag}`)
  req.addHeader('Call-ID', leg.callId)
  req.addHeader('CSeq', `${cseq} ${method}`)
  for (const r of leg.routeSet) req.addHeader('Route', r)
  if (CONTACT_METHODS.has(method)) req.addHeader('Contact', iface.contact(leg.peer.transport, contactUser))
  return req
}

/**
 * RFC 3261 §12.1.1: "When a UAS responds to a request with a response that establishes a dialog
 * (such as a 2xx to INVITE), the UAS MUST copy all Record-Route header field values from the
 * request into the response ... and MUST maintain the order of those values." The caller's route set
 * (§12.1.2) then goes through the proxies that record-routed, as ours toward it does.
 */
export function copyRecordRoute(request: SipRequest, response: SipResponse): void {
  const fields = request.headerFields
  for (let i = 0; i < fields.length; i++)
    if (fields[i]!.key === 'record-route') response.addFieldOf(fields[i]!)
}

/** The response to `request` mirroring `peer` (status, reason, end-to-end headers, body). */
export function mirrorResponse(
  request: SipRequest,
  peer: SipResponse,
  toTag: string | undefined,
  contact: string | undefined,
): SipResponse {
  const res = createResponse(request, peer.status, { reason: peer.reason, ...(toTag ? { toTag } : {}) })
  if (contact !== undefined) res.addHeader('Contact', contact)
  copyEndToEnd(peer, res)
  return res
}
