import {
  attribute,
  buildStun,
  encodeXorAddress,
  errorCodeValue,
  parseStun,
  type StunAddress,
  StunAttr,
  StunType,
  verifyFingerprint,
  verifyIntegrity,
} from './stun.ts'

/** Our ICE credentials toward one party (the a=ice-ufrag / a=ice-pwd we put in the SDP we sent it). */
export interface IceCredentials {
  readonly ufrag: string
  readonly pwd: string
}

/** What to do with one STUN datagram received on an ICE-lite port. */
export type IceLiteVerdict =
  /** Send `response` back to the source; `nominated` = USE-CANDIDATE was present (RFC 8445 §7.3.1.5, §7.3.2). */
  | { readonly kind: 'success'; readonly response: Buffer; readonly nominated: boolean }
  /** Send the error `response` back (RFC 5389 §10.1.2: 400 or 401); counted as a failed check. */
  | { readonly kind: 'error'; readonly response: Buffer; readonly code: 400 | 401 }
  /** Drop silently; `failed` = it was a bad message (counted), else a harmless one (indication, response). */
  | { readonly kind: 'drop'; readonly failed: boolean }

const SOFTWARE = Buffer.from('kube-sbc')

/**
 * The ICE-lite responder (RFC 8445 §2.5: a lite agent only answers connectivity checks and never
 * sends any). A Binding request must carry USERNAME `<our ufrag>:<peer ufrag>` and MESSAGE-INTEGRITY
 * keyed with our ice-pwd (RFC 8445 §7.3, short-term credentials of RFC 5389 §10.1):
 *
 * - not STUN, a bad FINGERPRINT (RFC 5389 §7.3: then it is not STUN), or an unparseable message → dropped,
 *   counted;
 * - Binding indications (RFC 8445 §11 keepalives) and responses → dropped, not counted;
 * - USERNAME or MESSAGE-INTEGRITY missing → 400 (RFC 5389 §10.1.2, first bullet);
 * - USERNAME not starting with our ufrag, or MESSAGE-INTEGRITY wrong → 401 (§10.1.2, second and
 *   third bullets; such error responses carry no MESSAGE-INTEGRITY, as §10.1.2 requires);
 * - otherwise a Binding success response with XOR-MAPPED-ADDRESS of the source (RFC 8445 §7.3.1.2,
 *   RFC 5389 §15.2), MESSAGE-INTEGRITY with our pwd and FINGERPRINT (RFC 8445 §7.3: a response to a
 *   check MUST carry both).
 *
 * Role conflicts (RFC 8445 §7.3.1.1) are not resolved: a lite agent is always the controlled one
 * (§6.1.1), so a full peer is controlling and a request carrying ICE-CONTROLLED is answered as any
 * other.
 */
export function answerIceCheck(packet: Uint8Array, from: StunAddress, ours: IceCredentials): IceLiteVerdict {
  const msg = parseStun(packet)
  if (!msg || !verifyFingerprint(msg)) return { kind: 'drop', failed: true }
  if (msg.type !== StunType.bindingRequest) return { kind: 'drop', failed: (msg.type & 0x0110) === 0 }
  const error = (code: 400 | 401, reason: string): IceLiteVerdict => ({
    kind: 'error',
    code,
    response: buildStun(
      StunType.bindingError,
      msg.transactionId,
      [
        { type: StunAttr.errorCode, value: errorCodeValue(code, reason) },
        { type: StunAttr.software, value: SOFTWARE },
      ],
      { fingerprint: true },
    ),
  })
  const username = attribute(msg, StunAttr.username)
  if (!username || msg.integrityAt < 0) return error(400, 'Bad Request')
  const colon = username.indexOf(0x3a)
  if (colon < 0 || username.subarray(0, colon).toString('latin1') !== ours.ufrag)
    return error(401, 'Unauthorized')
  if (!verifyIntegrity(msg, ours.pwd)) return error(401, 'Unauthorized')
  const response = buildStun(
    StunType.bindingSuccess,
    msg.transactionId,
    [
      { type: StunAttr.xorMappedAddress, value: encodeXorAddress(from, msg.transactionId) },
      { type: StunAttr.software, value: SOFTWARE },
    ],
    { integrityKey: ours.pwd, fingerprint: true },
  )
  return { kind: 'success', response, nominated: attribute(msg, StunAttr.useCandidate) !== undefined }
}
