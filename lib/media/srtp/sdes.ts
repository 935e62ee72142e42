import { randomBytes } from 'node:crypto'
import { SrtpKeyError } from './errors.ts'
import { type SrtpSuite, type SrtpSuiteName, srtpSuite } from './suites.ts'

/** One SDES `inline:` key parameter (RFC 4568 §6.1, §6.2). */
export interface SdesKeyParams {
  /** Master key, `suite.keyLength` octets. */
  readonly masterKey: Buffer
  /** Master salt, `suite.saltLength` octets. */
  readonly masterSalt: Buffer
  /** Optional master key lifetime in packets (`|2^31` or `|1048576`). */
  readonly lifetime?: number
  /** Optional MKI value and its length in octets (`|1:4`). */
  readonly mki?: { readonly value: number; readonly length: number }
}

/** A parsed `a=crypto` attribute value (RFC 4568 §9.1): `tag suite key-params *(session-param)`. */
export interface SdesCryptoAttribute {
  /** 1–9 digits, unique within the media description. */
  readonly tag: number
  /** The suite name as written; `srtpSuite()` tells whether kube-sbc supports it. */
  readonly suite: string
  /** One or more key parameters (separated by `;`). */
  readonly keys: readonly SdesKeyParams[]
  /** Session parameters (e.g. `UNENCRYPTED_SRTCP`, `KDR=0`), verbatim. */
  readonly sessionParams: readonly string[]
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

/**
 * Parses one key parameter `inline:<base64(key‖salt)>[|lifetime][|mki:length]` for `suite`.
 *
 * @throws SrtpKeyError for a missing `inline:` method, bad base64, a wrong key length, or a malformed
 *   lifetime or MKI
 */
export function parseSdesKeyParams(keyParams: string, suite: SrtpSuite | SrtpSuiteName): SdesKeyParams {
  const s = typeof suite === 'string' ? srtpSuite(suite) : suite
  if (!keyParams.startsWith('inline:')) throw new SrtpKeyError(`SDES key method is not inline: ${keyParams}`)
  const [b64 = '', ...rest] = keyParams.slice(7).split('|')
  if (!BASE64.test(b64)) throw new SrtpKeyError('SDES key is not base64')
  const raw = Buffer.from(b64, 'base64')
  if (raw.length !== s.keyLength + s.saltLength) {
    throw new SrtpKeyError(
      `SDES key for ${s.name} is ${raw.length} octets; expected ${s.keyLength + s.saltLength}`,
    )
  }
  let lifetime: number | undefined
  let mki: SdesKeyParams['mki']
  for (const p of rest) {
    if (p.includes(':')) {
      if (mki) throw new SrtpKeyError(`SDES key has two MKIs: ${keyParams}`)
      const m = /^(\d{1,10}):(\d{1,3})$/.exec(p)
      const value = Number(m?.[1])
      const length = Number(m?.[2])
      if (!m || length < 1 || length > 128 || value >= 2 ** Math.min(53, 8 * length)) {
        throw new SrtpKeyError(`SDES MKI is malformed: ${p}`)
      }
      mki = { value, length }
    } else {
      if (lifetime !== undefined || mki) throw new SrtpKeyError(`SDES lifetime out of place: ${p}`)
      const pow = /^2\^(\d{1,2})$/.exec(p)
      lifetime = pow ? 2 ** Number(pow[1]) : /^\d{1,16}$/.test(p) ? Number(p) : Number.NaN
      if (!Number.isSafeInteger(lifetime) || lifetime <= 0)
        throw new SrtpKeyError(`SDES lifetime is malformed: ${p}`)
    }
  }
  return {
    masterKey: raw.subarray(0, s.keyLength),
    masterSalt: raw.subarray(s.keyLength),
    ...(lifetime !== undefined ? { lifetime } : {}),
    ...(mki ? { mki } : {}),
  }
}

/** Formats a key parameter as `inline:<base64>[|2^n or lifetime][|mki:length]` (RFC 4568 §6.1). */
export function formatSdesKeyParams(k: SdesKeyParams): string {
  let out = `inline:${Buffer.concat([k.masterKey, k.masterSalt]).toString('base64')}`
  if (k.lifetime !== undefined) {
    const log = Math.log2(k.lifetime)
    out += Number.isInteger(log) ? `|2^${log}` : `|${k.lifetime}`
  }
  if (k.mki) out += `|${k.mki.value}:${k.mki.length}`
  return out
}

/**
 * Parses an `a=crypto` value (without `a=crypto:`). Key parameters of suites kube-sbc does not
 * implement are kept unparsed out: `keys` is empty for them, so the caller can skip the line.
 *
 * @throws SrtpKeyError when the line is malformed or the keys of a supported suite do not parse
 */
export function parseCryptoAttribute(value: string): SdesCryptoAttribute {
  const parts = value.trim().split(/\s+/)
  const [tagText = '', suite = '', keyText = '', ...sessionParams] = parts
  if (!/^\d{1,9}$/.test(tagText) || !suite || !keyText)
    throw new SrtpKeyError(`a=crypto is malformed: ${value}`)
  let keys: SdesKeyParams[] = []
  try {
    const s = srtpSuite(suite)
    keys = keyText.split(';').map((k) => parseSdesKeyParams(k, s))
  } catch (e) {
    if (e instanceof SrtpKeyError) throw e
  }
  return { tag: Number(tagText), suite, keys, sessionParams }
}

/** Formats an `a=crypto` value (without `a=crypto:`). */
export function formatCryptoAttribute(a: SdesCryptoAttribute): string {
  return [String(a.tag), a.suite, a.keys.map(formatSdesKeyParams).join(';'), ...a.sessionParams].join(' ')
}

/** A fresh master key and salt for `suite` from the CSPRNG (RFC 4568 §6.1: keys MUST be random). */
export function generateSdesKey(suite: SrtpSuite | SrtpSuiteName): SdesKeyParams {
  const s = typeof suite === 'string' ? srtpSuite(suite) : suite
  const raw = randomBytes(s.keyLength + s.saltLength)
  return { masterKey: raw.subarray(0, s.keyLength), masterSalt: raw.subarray(s.keyLength) }
}
