import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { estimateRoc, packetIndex, seqDelta } from './sequence.ts'

interface IndexCase {
  s_l: number
  roc: number
  seq: number
  expected_v: number
  expected_index: number
}
const vectors = JSON.parse(
  readFileSync(new URL('../fixtures/srtp-vectors.json', import.meta.url), 'utf8'),
) as {
  replay_and_index: { derived_index_cases: IndexCase[] }
}

describe('SRTP index estimation (RFC 3711 Appendix A)', () => {
  for (const c of vectors.replay_and_index.derived_index_cases) {
    it(`guesses v=${c.expected_v} for s_l=${c.s_l}, ROC=${c.roc}, SEQ=${c.seq}`, () => {
      const v = estimateRoc(c.s_l, c.roc, c.seq)
      assert.equal(v, c.expected_v)
      assert.equal(packetIndex(v, c.seq), c.expected_index)
    })
  }
  it('keeps the ROC for a packet just after s_l', () => {
    assert.equal(estimateRoc(40000, 3, 40001), 3)
  })
})

describe('seqDelta', () => {
  it('measures forward and backward distances across the wrap', () => {
    assert.equal(seqDelta(65535, 0), 1)
    assert.equal(seqDelta(0, 65535), -1)
    assert.equal(seqDelta(100, 200), 100)
  })
})
