import { AesCmKeystream } from './aes-cm.ts'
import { SrtpKeyError } from './errors.ts'
import type { SrtpSuite } from './suites.ts'

/** The key derivation labels of RFC 3711 §4.3.1 (and RFC 7714 §11 for GCM). */
export const KdfLabel = {
  rtpEncryption: 0x00,
  rtpAuthentication: 0x01,
  rtpSalt: 0x02,
  rtcpEncryption: 0x03,
  rtcpAuthentication: 0x04,
  rtcpSalt: 0x05,
} as const
export type KdfLabel = (typeof KdfLabel)[keyof typeof KdfLabel]

/** Session keys of one direction of one of RTP or RTCP. */
export interface SessionKeys {
  /** Session encryption key k_e. */
  readonly encryptionKey: Buffer
  /** Session authentication key k_a (20 octets for HMAC-SHA1; empty for GCM). */
  readonly authenticationKey: Buffer
  /** Session salt k_s (14 octets for AES-CM, 12 for GCM). */
  readonly salt: Buffer
}

/** The six session keys derived from one master key and salt. */
export interface DerivedKeys {
  readonly rtp: SessionKeys
  readonly rtcp: SessionKeys
}

/**
 * The AES-CM PRF of RFC 3711 §4.3.3 with key_derivation_rate 0 (§4.3.1): r = 0, so
 * x = label·2^48 XOR master_salt, and the output is the AES-CM keystream of `x·2^16` under the master key.
 *
 * @param masterSalt - 14 octets, or 12 for the GCM suites, which libsrtp and RFC 7714 §11 pad with two
 *   zero octets to the 112-bit x
 */
export function aesCmPrf(
  masterKey: Uint8Array,
  masterSalt: Uint8Array,
  label: number,
  length: number,
): Buffer {
  if (masterSalt.length !== 14 && masterSalt.length !== 12) {
    throw new SrtpKeyError(`master salt of ${masterSalt.length} octets; expected 14 (AES-CM) or 12 (GCM)`)
  }
  const iv = Buffer.alloc(16)
  iv.set(masterSalt, 0)
  // The label sits at octet 7 of the 14-octet x (RFC 3711 §4.3.1: label · 2^48 within 112 bits).
  iv[7] = (iv[7] as number) ^ label
  return new AesCmKeystream(masterKey).keystream(iv, length).subarray(0, length)
}

/**
 * Derives the SRTP and SRTCP session keys of RFC 3711 §4.3 (key_derivation_rate 0) for `suite`.
 *
 * @throws SrtpKeyError when the master key or salt has the wrong length for the suite
 */
export function deriveSessionKeys(
  suite: SrtpSuite,
  masterKey: Uint8Array,
  masterSalt: Uint8Array,
): DerivedKeys {
  if (masterKey.length !== suite.keyLength) {
    throw new SrtpKeyError(
      `${suite.name} needs a ${suite.keyLength}-octet master key, got ${masterKey.length}`,
    )
  }
  if (masterSalt.length !== suite.saltLength) {
    throw new SrtpKeyError(
      `${suite.name} needs a ${suite.saltLength}-octet master salt, got ${masterSalt.length}`,
    )
  }
  const derive = (enc: number, auth: number, salt: number): SessionKeys => ({
    encryptionKey: aesCmPrf(masterKey, masterSalt, enc, suite.keyLength),
    authenticationKey: suite.authKeyLength
      ? aesCmPrf(masterKey, masterSalt, auth, suite.authKeyLength)
      : Buffer.alloc(0),
    salt: aesCmPrf(masterKey, masterSalt, salt, suite.saltLength),
  })
  return {
    rtp: derive(KdfLabel.rtpEncryption, KdfLabel.rtpAuthentication, KdfLabel.rtpSalt),
    rtcp: derive(KdfLabel.rtcpEncryption, KdfLabel.rtcpAuthentication, KdfLabel.rtcpSalt),
  }
}
