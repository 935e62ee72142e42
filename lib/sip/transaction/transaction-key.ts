import { getParam } from '../message/headers/params.ts'
import { stringifyVia } from '../message/headers/via.ts'
import type { SipRequest, SipResponse } from '../message/message.ts'
import { stringifyUri } from '../uri/uri.ts'

/** RFC 3261 §8.1.1.7: branches that begin with it were made unique by an RFC 3261 element. */
export const MAGIC_COOKIE = 'z9hG4bK'

/**
 * The key that matches a request to a server transaction.
 *
 * @remarks
 * RFC 3261 §17.2.3 (https://www.rfc-editor.org/rfc/rfc3261#section-17.2.3): "the request matches a
 * transaction if: 1. the branch parameter in the request is equal to the one in the top Via header
 * field of the request that created the transaction, and 2. the sent-by value in the top Via of the
 * request is equal to the one in the request that created the transaction, and 3. the method of the
 * request matches the one that created the transaction, except for ACK, where the method of the
 * request that created the transaction is INVITE."
 *
 * Without the magic cookie, the RFC 2543 rules apply: "The INVITE request matches a transaction if
 * the Request-URI, To tag, From tag, Call-ID, CSeq, and top Via header field match those of the
 * INVITE request which created the transaction." The To tag is left out of the key because the ACK
 * carries the tag of our response, not the INVITE's; the layer checks it separately.
 *
 * `methodOverride` looks up another method's transaction with the same identity (CANCEL → INVITE,
 * RFC 3261 §9.2).
 */
export function serverTransactionKey(request: SipRequest, methodOverride?: string): string | undefined {
  const via = request.topVia
  if (!via) return undefined
  const method = methodOverride ?? (request.method === 'ACK' ? 'INVITE' : request.method)
  const branch = getParam(via.params, 'branch')
  if (typeof branch === 'string' && branch.startsWith(MAGIC_COOKIE)) {
    return `${branch}\u0000${via.host.toLowerCase()}:${via.port ?? ''}\u0000${method}`
  }
  const cseq = request.cseq
  return [
    '2543',
    stringifyUri(request.uri),
    request.fromTag ?? '',
    request.callId ?? '',
    cseq?.seq ?? '',
    method,
    stringifyVia({ ...via, params: via.params.filter(([n]) => n !== 'received' && n !== 'rport') }),
  ].join('\u0000')
}

/**
 * The key that matches a response to a client transaction. RFC 3261 §17.1.3: "If the response has
 * the same value of the branch parameter in the top Via header field as the branch parameter in the
 * top Via header field of the request that created the transaction" and "If the method parameter in
 * the CSeq header field matches the method of the request that created the transaction."
 */
export function clientTransactionKey(branch: string, method: string): string {
  return `${branch}\u0000${method}`
}

/** The client key of a response, or undefined when it has no branch or CSeq. */
export function responseClientKey(response: SipResponse): string | undefined {
  const branch = response.topVia ? getParam(response.topVia.params, 'branch') : undefined
  const method = response.cseq?.method
  if (typeof branch !== 'string' || method === undefined) return undefined
  return clientTransactionKey(branch, method)
}

/** Identifies an INVITE by dialog-ish identity, to match the ACK for its 2xx (a new transaction). */
export function inviteAckKey(message: SipRequest): string {
  return `${message.callId ?? ''}\u0000${message.cseq?.seq ?? ''}\u0000${message.fromTag ?? ''}`
}
