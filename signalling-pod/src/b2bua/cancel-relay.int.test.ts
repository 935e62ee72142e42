import assert from 'node:assert/strict'
import type { Logger } from '../../../lib/observability/logger.ts'
import { RedisStore } from '../../../lib/state/redis-store.ts'
import { startRedis, type TestRedis } from '../../../test/harness/redis.ts'
import {
  type AckNotice,
  type CancelNotice,
  CancelRelay,
  POD_MESSAGE_INVALID,
  parseAckNotice,
  parseCancelNotice,
  parseEarlyByeNotice,
  podChannel,
} from './cancel-relay.ts'

/** A logger keeping warn lines, to see what was logged with which code. */
function recordingLogger(warnings: Record<string, unknown>[]): Logger {
  const l: Logger = {
    trace() {},
    debug() {},
    info() {},
    warn: (o: object) => {
      warnings.push(o as Record<string, unknown>)
    },
    error() {},
    child: () => l,
  }
  return l
}

describe('CancelRelay (per-pod Redis channel) against redis-server', function () {
  this.timeout(20_000)
  let redis: TestRedis
  let storeA: RedisStore
  let storeB: RedisStore

  before(async () => {
    redis = await startRedis()
    storeA = RedisStore.fromUrl(redis.url)
    storeB = RedisStore.fromUrl(redis.url)
    await storeA.connected(5000)
    await storeB.connected(5000)
  })
  after(async () => {
    await storeA?.close()
    await storeB?.close()
    await redis?.close()
  })

  it('delivers a notice to the named pod only; 0 receivers when nobody listens', async () => {
    const got: CancelNotice[] = []
    const acks: AckNotice[] = []
    const warnings: Record<string, unknown>[] = []
    const owner = new CancelRelay({
      client: storeA.client,
      commandTimeoutMs: storeA.commandTimeoutMs,
      podName: 'pod-a',
      logger: recordingLogger(warnings),
      onCancel: (n) => got.push(n),
      onAck: (n) => acks.push(n),
    })
    const sender = new CancelRelay({
      client: storeB.client,
      commandTimeoutMs: storeB.commandTimeoutMs,
      podName: 'pod-b',
      logger: recordingLogger(warnings),
      onCancel: () => assert.fail('pod-b is not the owner'),
    })
    try {
      // The subscription is asynchronous: wait (bounded) until Redis counts the subscriber.
      for (let i = 0; i < 100; i++) {
        const [, n] = (await storeB.client.pubsub('NUMSUB', podChannel('pod-a'))) as [string, number]
        if (n === 1) break
        await new Promise((r) => setTimeout(r, 20))
      }
      const notice = { id: 'call-1', branch: 'z9hG4bKabc', cseq: 7 }
      assert.equal(await sender.send('pod-a', notice), 1)
      assert.equal(await sender.send('pod-gone', notice), 0, 'no subscriber for a pod that is gone')
      await storeB.client.publish(podChannel('pod-a'), '{"t":"cancel","id":1}')
      // A message published after those arrives after them (one connection, in order).
      assert.equal(await sender.send('pod-a', { ...notice, cseq: 8 }), 1)
      // An ACK notice carries the relayed ACK's octets as latin1: every byte value survives.
      const ack = { id: 'call-1', cseq: 7, ack: 'ACK sip:x SIP/2.0\r\n\r\n\u00e9\u00ff\u0000' }
      assert.equal(await sender.sendAck('pod-a', ack), 1)
      for (let i = 0; i < 100 && acks.length < 1; i++) await new Promise((r) => setTimeout(r, 20))
      assert.deepEqual(got, [notice, { ...notice, cseq: 8 }])
      assert.deepEqual(acks, [ack])
      assert.equal(warnings.length, 1)
      assert.equal(warnings[0]?.code, POD_MESSAGE_INVALID)
    } finally {
      owner.close()
      sender.close()
    }
  })

  it('parses only well-formed notices', () => {
    assert.deepEqual(parseCancelNotice('{"t":"cancel","id":"x","branch":"b","cseq":1}'), {
      id: 'x',
      branch: 'b',
      cseq: 1,
    })
    for (const bad of [
      '',
      'null',
      '[]',
      '{"t":"bye","id":"x","branch":"b","cseq":1}',
      '{"t":"cancel","id":"x","branch":"b","cseq":-1}',
      '{"t":"cancel","id":"x","cseq":1}',
    ])
      assert.equal(parseCancelNotice(bad), undefined, bad)
    assert.deepEqual(parseAckNotice('{"t":"ack","id":"x","cseq":1,"ack":"ACK"}'), {
      id: 'x',
      cseq: 1,
      ack: 'ACK',
    })
    for (const bad of [
      '{"t":"cancel","id":"x","cseq":1,"ack":"ACK"}',
      '{"t":"ack","id":"x","cseq":1.5,"ack":"ACK"}',
      '{"t":"ack","id":"x","cseq":1}',
      '{"t":"ack","cseq":1,"ack":"ACK"}',
    ])
      assert.equal(parseAckNotice(bad), undefined, bad)
    assert.deepEqual(parseEarlyByeNotice('{"t":"early-bye","id":"x","cseq":3}'), { id: 'x', cseq: 3 })
    for (const bad of [
      '{"t":"cancel","id":"x","cseq":1}',
      '{"t":"early-bye","id":"x"}',
      '{"t":"early-bye","cseq":1}',
    ])
      assert.equal(parseEarlyByeNotice(bad), undefined, bad)
  })
})
