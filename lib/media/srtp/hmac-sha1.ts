import { hash } from 'node:crypto'

/** Largest message the MAC accepts in one call (a jumbo datagram plus the ROC). */
const MAX_MESSAGE = 9216 + 4

/**
 * HMAC-SHA1 (RFC 2104) with the key processed once, for SRTP authentication (RFC 3711 §4.2.1).
 *
 * @remarks
 * `createHmac` per packet re-derives the padded key and builds two OpenSSL contexts every time. Here
 * `K XOR ipad` and `K XOR opad` are precomputed in front of scratch buffers, the message is copied
 * behind them, and two one-shot `crypto.hash('sha1')` calls finish the job: two small Buffers are the
 * only per-packet allocations. Owned by: one `SrtpContext`; not reentrant (shared scratch).
 */
export class HmacSha1 {
  /** Scratch: (K ⊕ ipad) ‖ message. */
  private readonly inner = Buffer.alloc(64 + MAX_MESSAGE)
  /** Scratch: (K ⊕ opad) ‖ inner digest. */
  private readonly outer = Buffer.alloc(64 + 20)

  constructor(key: Uint8Array) {
    // Keys longer than the block are hashed first (RFC 2104 §2); SRTP keys are 20 octets.
    const k = key.length > 64 ? hash('sha1', key, 'buffer') : key
    for (let i = 0; i < 64; i++) {
      const b = i < k.length ? (k[i] as number) : 0
      this.inner[i] = b ^ 0x36
      this.outer[i] = b ^ 0x5c
    }
  }

  /**
   * MAC of `msg[start, end)` followed by the 32-bit big-endian `roc` when `withRoc` (the SRTP
   * authenticated portion ‖ ROC of RFC 3711 §4.2). Returns a fresh 20-octet Buffer.
   */
  mac(msg: Uint8Array, start: number, end: number, withRoc: boolean, roc: number): Buffer {
    const n = end - start
    const inner = this.inner
    inner.set(msg.subarray(start, end), 64)
    let total = 64 + n
    if (withRoc) {
      inner[total] = (roc >>> 24) & 0xff
      inner[total + 1] = (roc >>> 16) & 0xff
      inner[total + 2] = (roc >>> 8) & 0xff
      inner[total + 3] = roc & 0xff
      total += 4
    }
    const d = hash('sha1', inner.subarray(0, total), 'buffer')
    this.outer.set(d, 64)
    return hash('sha1', this.outer, 'buffer')
  }
}
