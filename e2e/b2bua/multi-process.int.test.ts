import assert from 'node:assert/strict'
import { both, call, ok, scenario, setdest } from './harness.ts'
import { useTwoProcesses } from './two-processes.ts'

/**
 * Two `kube-sbc run --redis` processes on one redis-server, with the caller's messages of one
 * transaction split between them (docs/b2bua.md, "Multi-process"): a CANCEL reaching the process
 * that does not hold the INVITE, and PRACKs (two reliable provisionals) through that process.
 */
describe('B2BUA across two processes: CANCEL and PRACK through the other process', function () {
  this.timeout(60_000)
  const t = useTwoProcesses({ peers: false })
  const keys = () => t.store.keys()

  it('CANCEL to B for an INVITE through A: 200 from B, CANCEL on the B leg, 487 to the caller, no keys left', async () => {
    const c = await call(t.a.ports.pbx, t.uacPort, t.uasPort, {
      uac: await scenario('uac-cancel-via-other.xml', {
        TO_OTHER: setdest(t.b.ports.pbx),
        TO_OWNER: setdest(t.a.ports.pbx),
        AFTER_START: '',
        AFTER_END: '',
        ONLY_START: '<!--',
        ONLY_END: '-->',
        PAUSE_START: '<!--',
        PAUSE_END: '-->',
      }),
      // The callee rings and never answers; it must receive the CANCEL (from A, which holds the
      // B leg's INVITE transaction) and answers it 200 and the INVITE 487.
      uas: await scenario('uas-ring-cancel.xml'),
      calls: 3,
    })
    await both(c, 3)
    // B logs once each script returned; the pipe from the process may deliver the lines later than
    // SIPp's end, so wait for all three before counting (exactly three: no other CANCEL went to B).
    await t.b.proc.waitForOutput(/(?:Handed CANCEL to the process holding the INVITE[\s\S]*?){3}/, 10_000)
    assert.equal(
      (t.b.proc.output().match(/Handed CANCEL to the process holding the INVITE/g) ?? []).length,
      3,
      'B answered the CANCELs and handed them to A',
    )
    assert.deepEqual(await keys(), [])
  })

  it('two reliable provisionals (183 with SDP, 180): both PRACKs, the ACK and the BYE through B', async () => {
    const c = await call(t.a.ports.pbx, t.uacPort, t.uasPort, {
      uac: await scenario('uac-prack-via-other.xml', { TO_OTHER: setdest(t.b.ports.pbx) }),
      uas: await scenario('uas-prack-via-other.xml', {
        TO_OTHER: setdest(t.b.ports.carrier),
        TO_OWNER: setdest(t.a.ports.carrier),
      }),
      calls: 2,
    })
    await both(c, 2)
    assert.deepEqual(await keys(), [])
  })

  it('CANCEL to B after A was killed: 481 (nobody holds the INVITE transaction any more)', async () => {
    const c = await call(t.a.ports.pbx, t.uacPort, t.uasPort, {
      uac: await scenario('uac-cancel-via-other.xml', {
        TO_OTHER: setdest(t.b.ports.pbx),
        TO_OWNER: '',
        CANCEL_ANSWER: '481',
        AFTER_START: '<!--',
        AFTER_END: '-->',
        ONLY_START: '',
        ONLY_END: '',
        // Room for the test to kill A between the 180 and the CANCEL.
        PAUSE_START: '',
        PAUSE_END: '',
        PAUSE: '4000',
      }),
      uas: await scenario('uas-ring-only.xml'),
      calls: 1,
    })
    // The UAS rang (it is done once the 180 is out) and the call is in Redis: A holds the INVITE.
    ok(await c.uas, 1, 'UAS')
    for (let i = 0; i < 100 && !(await keys()).some((k) => k.includes('{c:')); i++)
      await new Promise((r) => setTimeout(r, 50))
    assert.ok(
      (await keys()).some((k) => k.includes('{c:')),
      'the early call is in Redis',
    )
    process.kill(t.a.proc.pid, 'SIGKILL')
    await t.a.proc.exited
    ok(await c.uac, 1, 'UAC')
    await t.b.proc.waitForOutput(/CANCEL for a call whose owner is gone: 481/, 10_000)
  })
})
