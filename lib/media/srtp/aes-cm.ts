import { type Cipheriv, createCipheriv } from 'node:crypto'
import { SrtpKeyError } from './errors.ts'

/** Largest payload the keystream generator serves in one call: a jumbo datagram, rounded to blocks. */
export const MAX_KEYSTREAM_OCTETS = 9216

/**
 * AES in counter mode as SRTP uses it (RFC 3711 §4.1.1): keystream block j is AES_k(IV + j), where the
 * 16-bit block counter occupies the last two octets of the 128-bit IV.
 *
 * @remarks
 * Performance: creating an `aes-*-ctr` cipher per packet costs several µs in Node (OpenSSL context
 * setup + key schedule). Instead one `aes-*-ecb` cipher, keyed once, encrypts a block of counter values
 * per packet: the key schedule is reused and the only allocation left is the output Buffer that
 * `Cipher.update` returns (node:crypto has no update-into). See docs/adr/0040-media-packet-path.md.
 *
 * Owned by: one `SrtpContext` (or the KDF); not thread-safe, not reentrant. `counters` is scratch.
 */
export class AesCmKeystream {
  private readonly ecb: Cipheriv
  /** Scratch: counter blocks IV, IV+1, ... for the current call. */
  private readonly counters = Buffer.alloc(MAX_KEYSTREAM_OCTETS)

  constructor(key: Uint8Array) {
    const algo =
      key.length === 16
        ? 'aes-128-ecb'
        : key.length === 24
          ? 'aes-192-ecb'
          : key.length === 32
            ? 'aes-256-ecb'
            : ''
    if (!algo) throw new SrtpKeyError(`AES key of ${key.length} octets; expected 16, 24 or 32`)
    this.ecb = createCipheriv(algo, key, null)
    this.ecb.setAutoPadding(false)
  }

  /**
   * Returns at least `length` octets of keystream for the 16-octet `iv` (whose last two octets are the
   * starting block counter, zero in SRTP). The returned Buffer is fresh; only its first `length` octets are meaningful.
   */
  keystream(iv: Uint8Array, length: number): Buffer {
    if (length > MAX_KEYSTREAM_OCTETS) throw new SrtpKeyError(`keystream of ${length} octets requested`)
    const blocks = (length + 15) >>> 4
    const c = this.counters
    for (let j = 0; j < blocks; j++) {
      const o = j << 4
      for (let k = 0; k < 14; k++) c[o + k] = iv[k] as number
      // The block counter is added to the low 16 bits (RFC 3711 §4.1.1); SRTP IVs have zeros there,
      // a test may start elsewhere to reach far blocks of the Appendix B.2 keystream.
      const lo = (((iv[14] as number) << 8) | (iv[15] as number)) + j
      c[o + 14] = (lo >>> 8) & 0xff
      c[o + 15] = lo & 0xff
    }
    return this.ecb.update(c.subarray(0, blocks << 4))
  }

  /** XORs keystream for `iv` into `buf[start, end)` in place. */
  xor(iv: Uint8Array, buf: Uint8Array, start: number, end: number): void {
    const n = end - start
    if (n <= 0) return
    const ks = this.keystream(iv, n)
    for (let i = 0; i < n; i++) buf[start + i] = (buf[start + i] as number) ^ (ks[i] as number)
  }
}
