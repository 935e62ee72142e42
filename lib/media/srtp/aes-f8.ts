import { createCipheriv } from 'node:crypto'
import { SrtpKeyError } from './errors.ts'

/**
 * The AES-f8 keystream of RFC 3711 §4.1.2, for `F8_128_HMAC_SHA1_80` (RFC 4568 §6.2.3).
 *
 * @remarks
 * Not wired into `SRTP_SUITES`: SDES peers practically never offer f8 and libsrtp does not build it by
 * default. Kept as a checked primitive (RFC 3711 Appendix B.1) so that adding the suite is a table row.
 * Allocates per call; not for the packet path.
 *
 * IV' = E(k_e ⊕ m, IV) with m = k_s ‖ 0x55…; S(j) = E(k_e, IV' ⊕ j ⊕ S(j−1)), S(−1) = 0.
 */
export function aesF8Keystream(key: Uint8Array, salt: Uint8Array, iv: Uint8Array, length: number): Buffer {
  if (key.length !== 16 || iv.length !== 16 || salt.length > 16)
    throw new SrtpKeyError('AES-f8 needs a 16-octet key and IV')
  const m = Buffer.alloc(16, 0x55)
  m.set(salt, 0)
  const masked = Buffer.alloc(16)
  for (let i = 0; i < 16; i++) masked[i] = (key[i] as number) ^ (m[i] as number)
  const ecb = (k: Uint8Array, block: Uint8Array) => {
    const c = createCipheriv('aes-128-ecb', k, null)
    c.setAutoPadding(false)
    return c.update(block)
  }
  const ivPrime = ecb(masked, iv)
  const blocks = Math.ceil(length / 16)
  const out = Buffer.alloc(blocks * 16)
  let prev = Buffer.alloc(16)
  for (let j = 0; j < blocks; j++) {
    const x = Buffer.from(ivPrime)
    x.writeUInt32BE((x.readUInt32BE(12) ^ j) >>> 0, 12)
    for (let i = 0; i < 16; i++) x[i] = (x[i] as number) ^ (prev[i] as number)
    prev = ecb(key, x)
    prev.copy(out, j * 16)
  }
  return out.subarray(0, length)
}
