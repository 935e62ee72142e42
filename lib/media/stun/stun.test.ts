import assert from 'node:assert/strict'
import { hex, RFC5769, RFC5769_REQUEST } from '../../../test/harness/rfc5769.ts'
import { answerIceCheck } from './ice-lite.ts'
import {
  attribute,
  buildStun,
  decodeXorAddress,
  encodeXorAddress,
  looksLikeStun,
  parseStun,
  StunAttr,
  StunType,
  verifyFingerprint,
  verifyIntegrity,
} from './stun.ts'

// RFC 5769 test vectors (§2.1–§2.3): the request and its credentials from test/harness/rfc5769.ts.
const PASSWORD = RFC5769.pwd
const REQUEST = RFC5769_REQUEST
const IPV4_RESPONSE = hex(`01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 08 00 01 a1 47 e1 12 a6 43
  00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
  80 28 00 04 c0 7d 4c 96`)
const IPV6_RESPONSE = hex(`01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
  00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
  80 28 00 04 c8 fb 0b 4c`)
const TID = hex('b7e7a701bc34d686fa87dfae')

describe('STUN codec (RFC 5389) against the RFC 5769 vectors', () => {
  it('parses the sample request and verifies its integrity and fingerprint (RFC 5769 §2.1)', () => {
    const m = parseStun(REQUEST)
    assert.ok(m)
    assert.equal(m.type, StunType.bindingRequest)
    assert.deepEqual(m.transactionId, TID)
    assert.equal(attribute(m, StunAttr.username)?.toString(), 'evtj:h6vY')
    assert.equal(attribute(m, StunAttr.software)?.toString(), 'STUN test client')
    assert.ok(verifyIntegrity(m, PASSWORD))
    assert.ok(verifyFingerprint(m))
    assert.equal(verifyIntegrity(m, `${PASSWORD}x`), false)
  })

  it('verifies the IPv4 and IPv6 sample responses and decodes their XOR-MAPPED-ADDRESS (§2.2, §2.3)', () => {
    const v4 = parseStun(IPV4_RESPONSE)
    const v6 = parseStun(IPV6_RESPONSE)
    assert.ok(v4 && v6)
    for (const m of [v4, v6]) {
      assert.equal(m.type, StunType.bindingSuccess)
      assert.ok(verifyIntegrity(m, PASSWORD))
      assert.ok(verifyFingerprint(m))
    }
    assert.deepEqual(decodeXorAddress(attribute(v4, StunAttr.xorMappedAddress) as Buffer, TID), {
      address: '192.0.2.1',
      port: 32853,
    })
    assert.deepEqual(decodeXorAddress(attribute(v6, StunAttr.xorMappedAddress) as Buffer, TID), {
      address: '2001:db8:1234:5678:11:2233:4455:6677',
      port: 32853,
    })
  })

  it('encodes XOR-MAPPED-ADDRESS as the sample responses do and builds messages that verify', () => {
    // The vectors pad SOFTWARE with 0x20 where the builder pads with zeros (RFC 5389 §15 allows
    // any padding), so whole messages differ; the address values and the checks must agree.
    assert.deepEqual(encodeXorAddress({ address: '192.0.2.1', port: 32853 }, TID), hex('0001a147e112a643'))
    assert.deepEqual(
      encodeXorAddress({ address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 }, TID),
      hex('0002a1470113a9faa5d3f179bc25f4b5bed2b9d9'),
    )
    const built = buildStun(
      StunType.bindingSuccess,
      TID,
      [
        { type: StunAttr.software, value: Buffer.from('test vector') },
        { type: StunAttr.xorMappedAddress, value: hex('0001a147e112a643') },
      ],
      { integrityKey: PASSWORD, fingerprint: true },
    )
    // Same layout and length as §2.2: SOFTWARE, XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT.
    assert.equal(built.length, IPV4_RESPONSE.length)
    const padded = Buffer.from(built)
    padded[20 + 4 + 11] = 0x20
    assert.deepEqual(padded.subarray(0, 44), IPV4_RESPONSE.subarray(0, 44))
    const m = parseStun(built)
    assert.ok(m)
    assert.ok(verifyIntegrity(m, PASSWORD))
    assert.ok(verifyFingerprint(m))
    assert.equal(verifyIntegrity(m, 'other'), false)
  })

  it('rejects a flipped fingerprint and a flipped integrity byte', () => {
    const badFp = Buffer.from(REQUEST)
    badFp[badFp.length - 1] = (badFp[badFp.length - 1] as number) ^ 1
    const m1 = parseStun(badFp)
    assert.ok(m1)
    assert.equal(verifyFingerprint(m1), false)
    const badMi = Buffer.from(REQUEST)
    badMi[REQUEST.length - 12] = (badMi[REQUEST.length - 12] as number) ^ 1
    const m2 = parseStun(badMi)
    assert.ok(m2)
    assert.equal(verifyIntegrity(m2, PASSWORD), false)
  })

  it('returns null for what is not STUN (RFC 7983 §7 first byte, cookie, lengths)', () => {
    const rtp = Buffer.alloc(40)
    rtp[0] = 0x80
    assert.equal(looksLikeStun(rtp), false)
    assert.equal(parseStun(REQUEST.subarray(0, 19)), null)
    const badCookie = Buffer.from(REQUEST)
    badCookie[4] = 0
    assert.equal(parseStun(badCookie), null)
    const truncated = Buffer.from(REQUEST.subarray(0, REQUEST.length - 4))
    assert.equal(parseStun(truncated), null) // header length no longer matches
    const overrun = Buffer.from(REQUEST)
    overrun.writeUInt16BE(0x0100, 22) // SOFTWARE claims 256 bytes
    assert.equal(parseStun(overrun), null)
    for (let i = 0; i < 200; i++) {
      const junk = Buffer.from(REQUEST)
      junk[20 + (i % (REQUEST.length - 20))] = (i * 37) & 0xff
      parseStun(junk) // never throws
    }
  })
})

describe('ICE-lite responder (RFC 8445 §7.3)', () => {
  const ours = { ufrag: 'evtj', pwd: PASSWORD }
  const from = { address: '127.0.0.1', port: 40000 }

  it('answers the RFC 5769 request with a success response that verifies with our password', () => {
    const v = answerIceCheck(REQUEST, from, ours)
    assert.equal(v.kind, 'success')
    if (v.kind !== 'success') return
    assert.equal(v.nominated, false)
    const r = parseStun(v.response)
    assert.ok(r)
    assert.equal(r.type, StunType.bindingSuccess)
    assert.deepEqual(r.transactionId, TID)
    assert.ok(verifyIntegrity(r, PASSWORD))
    assert.ok(r.fingerprintAt > 0 && verifyFingerprint(r))
    assert.deepEqual(decodeXorAddress(attribute(r, StunAttr.xorMappedAddress) as Buffer, TID), from)
  })

  it('reports USE-CANDIDATE as a nomination', () => {
    const req = buildStun(
      StunType.bindingRequest,
      TID,
      [
        { type: StunAttr.username, value: Buffer.from('evtj:peer') },
        { type: StunAttr.useCandidate, value: Buffer.alloc(0) },
      ],
      { integrityKey: PASSWORD, fingerprint: true },
    )
    const v = answerIceCheck(req, from, ours)
    assert.equal(v.kind, 'success')
    assert.equal(v.kind === 'success' && v.nominated, true)
  })

  it('answers 401 without MESSAGE-INTEGRITY to a wrong password or ufrag, 400 when attributes are missing (RFC 5389 §10.1.2)', () => {
    const wrongPwd = answerIceCheck(REQUEST, from, { ufrag: 'evtj', pwd: 'nope' })
    const wrongUfrag = answerIceCheck(REQUEST, from, { ufrag: 'h6vY', pwd: PASSWORD })
    const noMi = answerIceCheck(
      buildStun(StunType.bindingRequest, TID, [{ type: StunAttr.username, value: Buffer.from('evtj:x') }]),
      from,
      ours,
    )
    for (const [v, code] of [
      [wrongPwd, 401],
      [wrongUfrag, 401],
      [noMi, 400],
    ] as const) {
      assert.equal(v.kind, 'error')
      if (v.kind !== 'error') continue
      assert.equal(v.code, code)
      const r = parseStun(v.response)
      assert.ok(r)
      assert.equal(r.type, StunType.bindingError)
      assert.equal(r.integrityAt, -1)
      const ec = attribute(r, StunAttr.errorCode) as Buffer
      assert.equal((ec[2] as number) * 100 + (ec[3] as number), code)
    }
  })

  it('drops a bad fingerprint and junk (counted) and indications (not counted)', () => {
    const bad = Buffer.from(REQUEST)
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff
    assert.deepEqual(answerIceCheck(bad, from, ours), { kind: 'drop', failed: true })
    assert.deepEqual(answerIceCheck(Buffer.from([0, 1, 0]), from, ours), { kind: 'drop', failed: true })
    const ind = buildStun(StunType.bindingIndication, TID, [], { fingerprint: true })
    assert.deepEqual(answerIceCheck(ind, from, ours), { kind: 'drop', failed: false })
  })
})
