import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { startProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { startRedis, type TestRedis } from '../../test/harness/redis.ts'
import { monitorRedis } from '../../test/harness/redis-monitor.ts'
import { startSipp } from '../../test/harness/sipp.ts'
import {
  both,
  call,
  EARLY_MEDIA,
  http,
  ok,
  RETRANSMIT_2XX,
  root,
  type Sbc,
  sample,
  sbcPorts,
  scenario,
  scrape,
  setdest,
  startSbc,
} from './harness.ts'

/**
 * The B2BUA with real peers: SIPp UAC → `kube-sbc run` (child process) → SIPp UAS, over UDP and TCP,
 * with the in-process store and with two processes sharing a real redis-server.
 */

for (const transport of ['UDP', 'TCP'] as const) {
  const t = transport === 'UDP' ? 'u1' : 't1'
  describe(`B2BUA through kube-sbc run, in-process store, ${transport}`, function () {
    this.timeout(40_000)
    let sbc: Sbc
    let uacPort: number
    let uasPort: number

    before(async () => {
      uacPort = await freePort()
      uasPort = await freePort()
      sbc = await startSbc(await sbcPorts(), uacPort, uasPort, { transport })
    })
    after(async () => sbc?.close())

    it('relays a basic call and the caller hang-up, with no topology of one leg on the other', async () => {
      const c = await call(sbc.ports.pbx, uacPort, uasPort, {
        uac: await scenario('uac-call.xml'),
        uas: await scenario('uas-answer.xml'),
        calls: 3,
        transport: t,
      })
      await both(c, 3)
    })

    // TCP only: over UDP SIPp answers each ACK it already had with its 200 again, so the two would
    // ping-pong until the BYE.
    if (transport === 'TCP')
      it('re-sends the ACK to the callee when its 2xx is retransmitted after the call is set up', async () => {
        const c = await call(sbc.ports.pbx, uacPort, uasPort, {
          // The caller waits with its BYE until the callee has had its second ACK.
          uac: await scenario('uac-call.xml', { PAUSE: '1000' }),
          uas: await scenario('uas-answer.xml', { AFTER_ACK: RETRANSMIT_2XX }),
          calls: 2,
          transport: t,
        })
        await both(c, 2)
      })

    it('relays the callee hang-up', async () => {
      const c = await call(sbc.ports.pbx, uacPort, uasPort, {
        uac: await scenario('uac-callee-hangs-up.xml'),
        uas: await scenario('uas-answer.xml', { HANGUP_START: '', HANGUP_END: '', PAUSE: '200' }),
        transport: t,
      })
      await both(c, 1)
    })

    it('relays re-INVITE hold and resume with the SDP unchanged', async () => {
      const c = await call(sbc.ports.pbx, uacPort, uasPort, {
        uac: await scenario('uac-call.xml', { REINVITE_START: '', REINVITE_END: '' }),
        uas: await scenario('uas-answer.xml'),
        calls: 2,
        transport: t,
      })
      await both(c, 2)
    })

    it('relays PRACK (RFC 3262): reliable 183 with SDP, PRACK in the early dialog with RAck mapped', async () => {
      const c = await call(sbc.ports.pbx, uacPort, uasPort, {
        uac: await scenario('uac-prack.xml'),
        uas: await scenario('uas-prack.xml'),
        calls: 2,
        transport: t,
      })
      await both(c, 2)
    })
    it('cancels: 200 to the CANCEL, CANCEL on the B leg, 487 to the caller', async () => {
      const c = await call(sbc.ports.pbx, uacPort, uasPort, {
        uac: await scenario('uac-cancel.xml'),
        uas: await scenario('uas-ring-cancel.xml'),
        transport: t,
      })
      await both(c, 1)
    })

    it('CANCEL/200 race: the callee answers after the CANCEL; its leg gets ACK and BYE, the caller 487', async () => {
      const c = await call(sbc.ports.pbx, uacPort, uasPort, {
        uac: await scenario('uac-cancel.xml'),
        uas: await scenario('uas-cancel-race.xml'),
        transport: t,
      })
      await both(c, 1)
    })

    it('maps a 486 from the callee back to the caller', async () => {
      const c = await call(sbc.ports.pbx, uacPort, uasPort, {
        uac: await scenario('uac-expect-failure.xml', { STATUS: '486' }),
        uas: await scenario('uas-reject.xml', { STATUS: '486', REASON: 'Busy Here' }),
        transport: t,
      })
      await both(c, 1)
    })

    if (transport === 'UDP') {
      it('relays early media (183 with SDP) before the answer', async () => {
        const c = await call(sbc.ports.pbx, uacPort, uasPort, {
          uac: await scenario('uac-early-media.xml'),
          uas: await scenario('uas-answer.xml', { PROVISIONAL: EARLY_MEDIA }),
          transport: t,
        })
        await both(c, 1)
      })

      it('answers Max-Forwards 0 with 483 without forwarding', async () => {
        const uac = await startSipp({
          scenario: { file: await scenario('uac-expect-failure.xml', { STATUS: '483', MF: '0' }) },
          target: `127.0.0.1:${sbc.ports.pbx}`,
          transport: t,
          localPort: uacPort,
          calls: 1,
          timeoutSeconds: 10,
        })
        ok(await uac.result(), 1, 'UAC')
      })
    }
  })
}

describe('B2BUA across two processes sharing Redis', function () {
  this.timeout(60_000)
  let redis: TestRedis
  let client: Redis
  let a: Sbc
  let b: Sbc
  let uacPort: number
  let uasPort: number

  const keys = async () => (await client.keys('*')).sort()

  before(async () => {
    redis = await startRedis()
    client = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 })
    client.on('error', () => {}) // expected while the test stops Redis
    uacPort = await freePort()
    uasPort = await freePort()
    a = await startSbc(await sbcPorts(), uacPort, uasPort, { redis: redis.url })
    b = await startSbc(await sbcPorts(), uacPort, uasPort, { redis: redis.url })
  })
  after(async () => {
    await a?.close()
    await b?.close()
    client?.disconnect()
    await redis?.close()
  })

  it('INVITE through A, caller BYE through B; no keys left', async () => {
    const c = await call(a.ports.pbx, uacPort, uasPort, {
      uac: await scenario('uac-call.xml', { SETDEST: setdest(b.ports.pbx) }),
      uas: await scenario('uas-answer.xml', { UAS_MOVE: setdest(b.ports.carrier) }),
      calls: 3,
    })
    await both(c, 3)
    assert.deepEqual(await keys(), [])
  })

  it('holds and releases an admission slot only in the group with a limit (carrier), none in pbx', async () => {
    // MONITOR lists every command, those the Lua scripts run included: a release of a slot never
    // taken would show as a ZREM/ZREMRANGEBYSCORE on the pbx group's holds. (A BYE's sbcEndByLeg
    // gets the holds key's prefix, `sbc:{g:`, without a group: not a group key.)
    const groupKeys: string[] = []
    const monitor = await monitorRedis(redis.url, (args) => {
      for (const arg of args) if (/:\{g:[^}]+\}/.test(arg)) groupKeys.push(`${args[0]?.toLowerCase()} ${arg}`)
    })
    try {
      const c = await call(a.ports.pbx, uacPort, uasPort, {
        uac: await scenario('uac-call.xml', { SETDEST: setdest(b.ports.pbx) }),
        uas: await scenario('uas-answer.xml', { UAS_MOVE: setdest(b.ports.carrier) }),
        calls: 2,
      })
      await both(c, 2)
      assert.deepEqual(await keys(), [])
    } finally {
      monitor.close()
    }
    assert.deepEqual(
      groupKeys.filter((k) => !k.includes('{g:carrier}')),
      [],
      'no command on a group without limits',
    )
    assert.ok(
      groupKeys.some((k) => k.startsWith('zrem ') && k.includes('{g:carrier}')),
      `the carrier slots released: ${groupKeys.join(', ')}`,
    )
  })

  it('INVITE through A, callee BYE through B; no keys left', async () => {
    const c = await call(a.ports.pbx, uacPort, uasPort, {
      uac: await scenario('uac-callee-hangs-up.xml', { SETDEST: setdest(b.ports.pbx) }),
      uas: await scenario('uas-answer.xml', {
        HANGUP_START: '',
        HANGUP_END: '',
        PAUSE: '200',
        SETDEST: setdest(b.ports.carrier),
      }),
      calls: 3,
    })
    await both(c, 3)
    assert.deepEqual(await keys(), [])
  })

  it('A killed with SIGKILL while calls are up: B serves re-INVITE and BYE of every call', async () => {
    const c = await call(a.ports.pbx, uacPort, uasPort, {
      uac: await scenario('uac-call.xml', {
        PAUSE: '3000',
        SETDEST: setdest(b.ports.pbx),
        REINVITE_START: '',
        REINVITE_END: '',
      }),
      uas: await scenario('uas-answer.xml', { UAS_MOVE: setdest(b.ports.carrier) }),
      calls: 5,
      rate: 20,
    })
    await new Promise((r) => setTimeout(r, 1500))
    assert.ok((await keys()).length >= 5, 'calls are in Redis')
    process.kill(a.proc.pid, 'SIGKILL')
    await a.proc.exited
    await both(c, 5)
    // Admission holds of A's calls were released by B at teardown.
    assert.deepEqual(await keys(), [])
  })

  it('Redis down: new INVITEs get 503 at once, no crash; Redis back: calls work again', async () => {
    await redis.stop()
    const started = Date.now()
    const refused = await startSipp({
      scenario: { file: await scenario('uac-expect-failure.xml', { STATUS: '503' }) },
      target: `127.0.0.1:${b.ports.pbx}`,
      transport: 'u1',
      localPort: uacPort,
      calls: 1,
      timeoutSeconds: 10,
    })
    ok(await refused.result(), 1, 'UAC expecting 503')
    assert.ok(Date.now() - started < 5000)
    assert.equal(await http(b.ports.http, '/readyz'), 503)
    const down = await scrape(b.ports.http)
    assert.equal(sample(down, 'sbc_redis_up'), 0)
    await redis.start()
    const until = Date.now() + 10_000
    while ((await http(b.ports.http, '/readyz')) !== 200 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 100))
    const c = await call(b.ports.pbx, uacPort, uasPort, {
      uac: await scenario('uac-call.xml'),
      uas: await scenario('uas-answer.xml'),
      calls: 2,
    })
    await both(c, 2)
    assert.deepEqual(await keys(), [])
    // Redis round trips are timed through the store's observer.
    const up = await scrape(b.ports.http)
    assert.equal(sample(up, 'sbc_redis_up'), 1)
    assert.ok(sample(up, 'sbc_redis_command_duration_seconds_count') > 0, up)
  })
})

describe('kube-sbc run: drain on SIGTERM', function () {
  this.timeout(40_000)

  it('goes unready, refuses new INVITEs with 503, keeps the call up until its BYE, then exits', async () => {
    const uacPort = await freePort()
    const uacPort2 = await freePort()
    const uasPort = await freePort()
    const sbc = await startSbc(await sbcPorts(), uacPort, uasPort, { extra: ['--drain-seconds', '20'] })
    try {
      const c = await call(sbc.ports.pbx, uacPort, uasPort, {
        uac: await scenario('uac-call.xml', { PAUSE: '3000' }),
        uas: await scenario('uas-answer.xml'),
      })
      await new Promise((r) => setTimeout(r, 1000))
      process.kill(sbc.proc.pid, 'SIGTERM')
      await sbc.proc.waitForOutput(/Draining signalling/)
      assert.equal(await http(sbc.ports.http, '/readyz'), 503)
      // A second caller from the same group (same address) is refused while draining.
      const refused = await startSipp({
        scenario: { file: await scenario('uac-expect-failure.xml', { STATUS: '503' }) },
        target: `127.0.0.1:${sbc.ports.pbx}`,
        transport: 'u1',
        localPort: uacPort2,
        calls: 1,
        timeoutSeconds: 5,
      })
      ok(await refused.result(), 1, 'UAC expecting 503')
      await both(c, 1)
      assert.equal(await sbc.proc.exited, 0)
    } finally {
      await sbc.close()
    }
  })
})

describe('kube-sbc run: usage errors', () => {
  for (const args of [
    ['run'],
    ['run', '-f', 'x', '--http-port', 'abc'],
    ['signalling'],
    ['run', '--bogus'],
  ]) {
    it(`exits 2 with a one-line error for ${args.join(' ')}`, async () => {
      const p = startProcess(`${root}/bin/kube-sbc`, args)
      assert.equal(await p.exited, 2)
      assert.match(p.output().split('\n')[0] ?? '', /^kube-sbc: /)
    })
  }
})
