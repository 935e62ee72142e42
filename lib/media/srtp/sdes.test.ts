import assert from 'node:assert/strict'
import { SrtpKeyError, SrtpSuiteError } from './errors.ts'
import {
  formatCryptoAttribute,
  formatSdesKeyParams,
  generateSdesKey,
  parseCryptoAttribute,
  parseSdesKeyParams,
} from './sdes.ts'
import { SRTP_SUITES, type SrtpSuiteName, srtpSuite } from './suites.ts'

describe('SDES key parameters (RFC 4568 §6.1)', () => {
  it('parses the RFC 4568 §9.1 example with lifetime and MKI', () => {
    const k = parseSdesKeyParams(
      'inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4',
      'AES_CM_128_HMAC_SHA1_80',
    )
    assert.equal(k.masterKey.length, 16)
    assert.equal(k.masterSalt.length, 14)
    assert.equal(k.lifetime, 2 ** 20)
    assert.deepEqual(k.mki, { value: 1, length: 4 })
    assert.equal(formatSdesKeyParams(k), 'inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4')
  })

  for (const suite of Object.keys(SRTP_SUITES) as SrtpSuiteName[]) {
    it(`generates, formats and parses back a random ${suite} key`, () => {
      const k = generateSdesKey(suite)
      const s = srtpSuite(suite)
      assert.equal(k.masterKey.length, s.keyLength)
      assert.equal(k.masterSalt.length, s.saltLength)
      const back = parseSdesKeyParams(formatSdesKeyParams(k), suite)
      assert.deepEqual([back.masterKey, back.masterSalt], [k.masterKey, k.masterSalt])
      assert.notDeepEqual(generateSdesKey(suite).masterKey, k.masterKey)
    })
  }

  const bad = [
    ['a key method other than inline', 'uri:https://example.invalid/key'],
    ['a key that is not base64', 'inline:!!!!'],
    ['a key of the wrong length', 'inline:AAAA'],
    ['a malformed lifetime', 'inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^x'],
    ['a malformed MKI', 'inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|1:'],
    ['an MKI value too big for its length', 'inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|256:1'],
  ]
  for (const [name, text] of bad) {
    it(`rejects ${name} with SBC_ERR_SRTP_KEY`, () => {
      assert.throws(
        () => parseSdesKeyParams(String(text), 'AES_CM_128_HMAC_SHA1_80'),
        (e: unknown) => e instanceof SrtpKeyError && e.code === 'SBC_ERR_SRTP_KEY',
      )
    })
  }
})

describe('a=crypto attribute (RFC 4568 §9.1)', () => {
  it('parses and formats a line with a session parameter', () => {
    const line =
      '1 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32 UNENCRYPTED_SRTCP'
    const a = parseCryptoAttribute(line)
    assert.equal(a.tag, 1)
    assert.equal(a.suite, 'AES_CM_128_HMAC_SHA1_32')
    assert.deepEqual(a.sessionParams, ['UNENCRYPTED_SRTCP'])
    assert.equal(formatCryptoAttribute(a), line)
  })
  it('keeps an unsupported suite without keys so the offer can skip it', () => {
    const a = parseCryptoAttribute('3 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm')
    assert.equal(a.keys.length, 0)
    assert.throws(() => srtpSuite(a.suite), SrtpSuiteError)
  })
  it('rejects a line without key parameters', () => {
    assert.throws(() => parseCryptoAttribute('1 AES_CM_128_HMAC_SHA1_80'), SrtpKeyError)
  })
})
