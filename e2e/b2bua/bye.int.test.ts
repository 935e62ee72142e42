import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import type { SipRequest, SipResponse } from '../../lib/sip/message/message.ts'
import { scripts } from '../../lib/state/redis-scripts.ts'
import { RedisStore } from '../../lib/state/redis-store.ts'
import { monitorRedis } from '../../test/harness/redis-monitor.ts'
import { cdrLines, type Sbc, sample, scrape } from './harness.ts'
import { until, useTwoProcesses } from './two-processes.ts'
import { newBranch, request, response, sipRequest, sipResponse } from './udp-peer.ts'

/**
 * A BYE costs one Redis round trip (docs/b2bua.md, "BYE"): `sbcEndByLeg` finds the call, checks
 * the CSeq and removes the call with its leg indexes and admission holds. Two `kube-sbc run --redis`
 * processes on one redis-server; caller and callee are bare UDP sockets of this test, so every
 * message on the wire is one this test or an SBC sent. The callee's group (`carrier`) has a call
 * limit, so each call holds an admission slot.
 */
describe('B2BUA: a BYE in one Redis round trip', function () {
  this.timeout(60_000)
  const t = useTwoProcesses()
  const endByLegSha = createHash('sha1').update(scripts.sbcEndByLeg.lua).digest('hex')
  const ruri = 'sip:callee@127.0.0.1'

  /** An answered and ACKed call set up through `via`; what the test needs to send in-dialog requests. */
  async function answeredCall(via: Sbc) {
    const callId = `${randomBytes(6).toString('hex')}@bye.test`
    const fromTag = randomBytes(4).toString('hex')
    let to = `<${ruri}>`
    let target = ruri
    const req = (method: string, cseq: number) =>
      sipRequest({ method, ruri: target, port: t.uacPort, branch: newBranch(), fromTag, to, callId, cseq })
    const invites = () => t.callee.all(request('INVITE'))
    const earlier = invites().length
    await t.caller.send(req('INVITE', 1), via.ports.pbx)
    await until('the B leg INVITE', async () => invites().length > earlier)
    const inv = invites()[earlier] as { msg: SipRequest; port: number }
    const bCallId = inv.msg.callId
    await t.callee.send(sipResponse(inv.msg, 200, 'OK', 'callee1', t.uasPort), inv.port)
    const ok = (await t.caller.waitFor(response(200, callId), '200 at the caller')).msg as SipResponse
    to = ok.header('to') ?? ''
    target = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? ruri
    await t.caller.send(req('ACK', 1), via.ports.pbx)
    await t.callee.waitFor((m) => request('ACK')(m) && m.callId === bCallId, 'the ACK at the callee')
    // The BYEs the callee got, one per CSeq: the SBC retransmits an unanswered BYE over UDP.
    const byesAtCallee = () =>
      t.callee
        .all((m) => request('BYE')(m) && m.callId === bCallId)
        .filter((r, i, all) => all.findIndex((o) => o.msg.cseq?.seq === r.msg.cseq?.seq) === i)
    return { callId, fromTag, req, byesAtCallee }
  }

  const cdrsOf = (callId: string) =>
    [...cdrLines(t.a.proc.output()), ...cdrLines(t.b.proc.output())].filter(
      (l) => (l.legA as { sipCallId?: string }).sipCallId === callId,
    )
  const callKeys = async () => (await t.store.keys()).filter((k) => k.includes('{c:') || k.includes(':x:{'))
  const holds = async () => await t.store.client.zrange('sbc:{g:carrier}:calls', 0, -1)

  it('the BYE of a plain call sends one command to Redis, sbcEndByLeg, and nothing else', async () => {
    const { callId, req, byesAtCallee } = await answeredCall(t.a)
    assert.equal((await holds()).length, 1, 'the call holds a carrier slot')
    // Redis learns a script at its first use on the server (EVALSHA answered NOSCRIPT, then EVAL):
    // once per server, not per call. Loaded here, so what follows is every BYE after the first.
    await t.store.client.script('LOAD', scripts.sbcEndByLeg.lua)
    const seen: string[] = []
    const monitor = await monitorRedis(t.store.redis.url, (args, source) => {
      // Commands a script runs show with source `lua`; they are part of that script's round trip.
      if (source !== 'lua') seen.push(args.join(' '))
    })
    try {
      // Markers on the test's own connection: MONITOR lists commands in the order Redis ran them.
      await t.store.client.echo('bye-start')
      await until('MONITOR to see the start marker', async () => seen.includes('echo bye-start'))
      await t.caller.send(req('BYE', 2), t.a.ports.pbx)
      await until('the BYE at the callee', async () => byesAtCallee().length === 1)
      const bye = byesAtCallee()[0]!
      await t.callee.send(sipResponse(bye.msg as SipRequest, 200, 'OK', 'callee1', t.uasPort), bye.port)
      await t.caller.waitFor(response(200, callId, 'BYE'), '200 to the BYE at the caller')
      await until('the CDR', async () => cdrsOf(callId).length === 1)
      // The old code deleted the call after the CDR: give a late command the time to show.
      await new Promise((r) => setTimeout(r, 300))
      await t.store.client.echo('bye-end')
      await until('MONITOR to see the end marker', async () => seen.includes('echo bye-end'))
    } finally {
      monitor.close()
    }
    const during = seen.slice(seen.indexOf('echo bye-start') + 1, seen.indexOf('echo bye-end'))
    assert.equal(during.length, 1, `commands for the BYE:\n${during.join('\n')}`)
    assert.ok(during[0]?.toLowerCase().startsWith(`evalsha ${endByLegSha} `), during[0])
    assert.deepEqual(await t.store.keys(), [], 'call, indexes and the hold are gone')
  })

  it('a BYE with a CSeq not above the last one gets 500 and leaves the call; the next one ends it', async () => {
    const { callId, req, byesAtCallee } = await answeredCall(t.a)
    const before = await callKeys()
    assert.equal(before.length, 3, 'the call and its two leg indexes')
    await t.caller.send(req('BYE', 1), t.b.ports.pbx)
    await t.caller.waitFor(response(500, callId, 'BYE'), '500 to the stale BYE')
    assert.deepEqual(await callKeys(), before, 'the call is still stored')
    assert.equal((await holds()).length, 1, 'and still holds its slot')
    assert.equal(byesAtCallee().length, 0, 'not relayed')
    await t.caller.send(req('BYE', 2), t.b.ports.pbx)
    await until('the BYE at the callee', async () => byesAtCallee().length === 1)
    const bye = byesAtCallee()[0]!
    await t.callee.send(sipResponse(bye.msg as SipRequest, 200, 'OK', 'callee1', t.uasPort), bye.port)
    await t.caller.waitFor(response(200, callId, 'BYE'), '200 to the BYE')
    await until('no keys left', async () => (await t.store.keys()).length === 0)
    await until('the CDR', async () => cdrsOf(callId).length === 1)
  })

  for (const status of [401, 407] as const) {
    it(`a BYE the callee challenges (${status}) keeps the call for the retried BYE, through the other process; one CDR`, async () => {
      const { callId, req, byesAtCallee } = await answeredCall(t.a)
      // The first BYE through B: the callee wants credentials.
      await t.caller.send(req('BYE', 2), t.b.ports.pbx)
      await until('the first BYE at the callee', async () => byesAtCallee().length === 1)
      const first = byesAtCallee()[0]!
      const challenge = sipResponse(
        first.msg as SipRequest,
        status,
        status === 401 ? 'Unauthorized' : 'Proxy Authentication Required',
        'callee1',
        t.uasPort,
      ).replace(
        'Content-Length: 0',
        `${status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate'}: Digest realm="callee", nonce="n1"\r\nContent-Length: 0`,
      )
      await t.callee.send(challenge, first.port)
      await t.caller.waitFor(response(status, callId, 'BYE'), `${status} at the caller`)
      // Back in Redis (the caller could send its BYE at once): the call and its indexes, no hold.
      assert.equal((await callKeys()).length, 3, 'the call is stored again')
      assert.deepEqual(await holds(), [], 'its admission slot stays released')
      assert.deepEqual(cdrsOf(callId), [], 'no CDR for a challenged BYE')
      // The BYE again, with the next CSeq (RFC 3261 §22.2), through A this time.
      await t.caller.send(req('BYE', 3), t.a.ports.pbx)
      await until('the second BYE at the callee', async () => byesAtCallee().length === 2)
      const second = byesAtCallee()[1]!
      assert.equal(
        (second.msg as SipRequest).cseq?.seq,
        ((first.msg as SipRequest).cseq?.seq ?? 0) + 1,
        'the retried BYE has the next CSeq on the B leg too',
      )
      await t.callee.send(sipResponse(second.msg as SipRequest, 200, 'OK', 'callee1', t.uasPort), second.port)
      await t.caller.waitFor(response(200, callId, 'BYE'), '200 to the retried BYE')
      await until('no keys left', async () => (await t.store.keys()).length === 0)
      await until('the CDR', async () => cdrsOf(callId).length > 0)
      // Let a second CDR, if any, reach the output.
      await new Promise((r) => setTimeout(r, 300))
      assert.deepEqual(
        cdrsOf(callId).map((l) => [l.finalCode, (l.hangup as { reason?: string }).reason]),
        [[200, 'bye']],
      )
    })
  }

  it('a challenged BYE the caller does not send again: the SBC ends the call (BYE to the callee again, one CDR, gauges, no keys)', async () => {
    const { callId, req, byesAtCallee } = await answeredCall(t.a)
    const active = async () =>
      sample(await scrape(t.a.ports.http), 'sbc_calls_active{ip_group="carrier"}') +
      sample(await scrape(t.b.ports.http), 'sbc_calls_active{ip_group="carrier"}')
    const before = await active()
    await t.caller.send(req('BYE', 2), t.b.ports.pbx)
    await until('the BYE at the callee', async () => byesAtCallee().length === 1)
    const first = byesAtCallee()[0]!
    await t.callee.send(
      sipResponse(first.msg as SipRequest, 401, 'Unauthorized', 'callee1', t.uasPort).replace(
        'Content-Length: 0',
        'WWW-Authenticate: Digest realm="callee", nonce="n1"\r\nContent-Length: 0',
      ),
      first.port,
    )
    await t.caller.waitFor(response(401, callId, 'BYE'), '401 at the caller')
    // The caller has no credentials and never sends the BYE again. The process that put the call
    // back ends it once the BYE had its time to come again (16 s; the record lives 32 s).
    await t.callee.waitFor(
      (m) =>
        request('BYE')(m) && m.callId === first.msg.callId && m.cseq?.seq === (first.msg.cseq?.seq ?? 0) + 1,
      "the SBC's own BYE at the callee",
      25_000,
    )
    await until('the CDR', async () => cdrsOf(callId).length === 1)
    const [cdr] = cdrsOf(callId)
    assert.equal((cdr?.hangup as { by?: string } | undefined)?.by, 'caller')
    assert.equal((cdr?.hangup as { reason?: string } | undefined)?.reason, 'bye')
    await until('no keys left', async () => (await callKeys()).length === 0)
    assert.equal(await active(), before - 1, 'the call is no longer counted active')
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(cdrsOf(callId).length, 1, 'one CDR')
  })

  it("a BYE crossing the SBC's own hang-up (call claimed terminated) is answered 200, not relayed, no second CDR", async () => {
    const { callId, fromTag, req, byesAtCallee } = await answeredCall(t.a)
    // What hangUp writes when it claims the call (media timeout, failed re-anchoring) before it sends
    // BYE on both legs and writes the CDR itself: the state as another process would leave it.
    const rs = new RedisStore({ url: t.store.redis.url, commandTimeoutMs: 5000 })
    try {
      await rs.connected()
      const found = await rs.findByLeg({ callId, remoteTag: fromTag })
      assert.ok(found, 'the answered call is stored')
      const s = found.call
      await rs.updateCall({
        ...s,
        state: 'terminated',
        a: { ...s.a, localCSeq: s.a.localCSeq + 1, state: 'terminated' },
        b: { ...s.b, localCSeq: s.b.localCSeq + 1, state: 'terminated' },
      })
    } finally {
      await rs.close()
    }
    // The caller's BYE crosses the SBC's: it is answered at once (RFC 3261 §15.1.2), not relayed.
    await t.caller.send(req('BYE', 2), t.b.ports.pbx)
    await t.caller.waitFor(response(200, callId, 'BYE'), '200 to the crossing BYE')
    // Let a relayed BYE or a CDR, if any, show.
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(byesAtCallee().length, 0, 'no BYE relayed: the hang-up sent its own')
    assert.deepEqual(cdrsOf(callId), [], "the CDR is the hang-up's to write")
    assert.deepEqual(await callKeys(), [], 'the call is gone')
  })

  it('Redis down: a BYE gets 503, as before, and the SBC keeps running', async () => {
    const { callId, req, byesAtCallee } = await answeredCall(t.a)
    await t.store.redis.stop()
    try {
      await t.caller.send(req('BYE', 2), t.a.ports.pbx)
      await t.caller.waitFor(response(503, callId, 'BYE'), '503 to the BYE')
      assert.equal(byesAtCallee().length, 0, 'not relayed')
    } finally {
      await t.store.redis.start()
    }
    assert.equal(t.a.proc.child.exitCode, null, 'A is still running')
  })
})
