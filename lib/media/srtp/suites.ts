import { SrtpSuiteError } from './errors.ts'

/**
 * The parameters of one SRTP crypto suite, as named in SDES (RFC 4568 §6.2, RFC 6188 §3, RFC 7714 §14.2).
 */
export interface SrtpSuite {
  /** SDES name, e.g. `AES_CM_128_HMAC_SHA1_80`. */
  readonly name: SrtpSuiteName
  /** `cm` = AES counter mode + HMAC-SHA1 (RFC 3711); `gcm` = AEAD AES-GCM (RFC 7714). */
  readonly kind: 'cm' | 'gcm'
  /** Master and session encryption key length, octets. */
  readonly keyLength: number
  /** Master and session salt length, octets (14 for AES-CM, 12 for GCM). */
  readonly saltLength: number
  /** Session authentication key length, octets (HMAC-SHA1 n_a = 160 bits); 0 for GCM. */
  readonly authKeyLength: number
  /** Authentication tag length appended to SRTP, octets. */
  readonly rtpTagLength: number
  /**
   * Authentication tag length appended to SRTCP, octets. AES_CM_128_HMAC_SHA1_32 still uses an 80-bit
   * SRTCP tag (RFC 4568 §6.2.1, RFC 5764 §4.1.2).
   */
  readonly rtcpTagLength: number
  /** The libsrtp profile id (`srtp_profile_t`), for the native addon. */
  readonly libsrtpProfile: number
}

/** The suites kube-sbc implements, by SDES name. */
export const SRTP_SUITES = {
  AES_CM_128_HMAC_SHA1_80: suite('AES_CM_128_HMAC_SHA1_80', 'cm', 16, 14, 20, 10, 10, 1),
  AES_CM_128_HMAC_SHA1_32: suite('AES_CM_128_HMAC_SHA1_32', 'cm', 16, 14, 20, 4, 10, 2),
  AES_256_CM_HMAC_SHA1_80: suite('AES_256_CM_HMAC_SHA1_80', 'cm', 32, 14, 20, 10, 10, 0),
  AES_256_CM_HMAC_SHA1_32: suite('AES_256_CM_HMAC_SHA1_32', 'cm', 32, 14, 20, 4, 10, 0),
  AEAD_AES_128_GCM: suite('AEAD_AES_128_GCM', 'gcm', 16, 12, 0, 16, 16, 7),
  AEAD_AES_256_GCM: suite('AEAD_AES_256_GCM', 'gcm', 32, 12, 0, 16, 16, 8),
} as const

/** The SDES name of a supported suite. */
export type SrtpSuiteName =
  | 'AES_CM_128_HMAC_SHA1_80'
  | 'AES_CM_128_HMAC_SHA1_32'
  | 'AES_256_CM_HMAC_SHA1_80'
  | 'AES_256_CM_HMAC_SHA1_32'
  | 'AEAD_AES_128_GCM'
  | 'AEAD_AES_256_GCM'

/** Looks a suite up by its SDES name. @throws SrtpSuiteError for an unknown name. */
export function srtpSuite(name: string): SrtpSuite {
  const s = (SRTP_SUITES as Record<string, SrtpSuite>)[name]
  if (!s) throw new SrtpSuiteError(name)
  return s
}

/** Whether `name` is a suite kube-sbc implements. */
export function isSrtpSuiteName(name: string): name is SrtpSuiteName {
  return Object.hasOwn(SRTP_SUITES, name)
}

function suite(
  name: SrtpSuiteName,
  kind: 'cm' | 'gcm',
  keyLength: number,
  saltLength: number,
  authKeyLength: number,
  rtpTagLength: number,
  rtcpTagLength: number,
  libsrtpProfile: number,
): SrtpSuite {
  return Object.freeze({
    name,
    kind,
    keyLength,
    saltLength,
    authKeyLength,
    rtpTagLength,
    rtcpTagLength,
    libsrtpProfile,
  })
}
