import assert from 'node:assert/strict'
import type { ControlPlane } from '../../test/control-plane/control-plane.ts'
import { eventually } from '../../test/control-plane/eventually.ts'
import { sharedControlPlane } from '../../test/control-plane/shared-control-plane.ts'
import { applyObject } from './apply.ts'
import { LeaderElector, microTime } from './leader-election.ts'

interface Lease {
  spec?: { holderIdentity?: string; leaseTransitions?: number; renewTime?: string }
}

describe('LeaderElector (real API server)', function () {
  this.timeout(180_000)
  let cp: ControlPlane
  const ns = `lease-${Date.now()}`
  const electors: LeaderElector[] = []

  before(async () => {
    cp = await sharedControlPlane('apiserver')
    await applyObject(cp.client, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
  })

  afterEach(async () => {
    for (const e of electors.splice(0)) await e.stop({ release: false })
  })

  function elector(name: string, identity: string, events: string[]): LeaderElector {
    const e = new LeaderElector({
      client: cp.client,
      namespace: ns,
      name,
      identity,
      leaseDurationMs: 2000,
      renewDeadlineMs: 1500,
      retryPeriodMs: 200,
      onStartedLeading: () => events.push(`${identity} started`),
      onStoppedLeading: () => events.push(`${identity} stopped`),
    })
    electors.push(e)
    return e
  }

  const lease = (name: string) =>
    cp.client.get<Lease>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: ns, name })

  it('elects exactly one leader and hands over when the leader stops renewing (crash)', async () => {
    const events: string[] = []
    const a = elector('crash', 'a', events)
    const b = elector('crash', 'b', events)
    a.start()
    await eventually(() => assert.equal(a.isLeader, true))
    b.start()
    // b observes a's lease and does not take it while a renews
    await eventually(() => assert.equal(b.leader, 'a'))
    assert.equal(b.isLeader, false)
    assert.equal((await lease('crash'))?.spec?.holderIdentity, 'a')
    const renewed = (await lease('crash'))?.spec?.renewTime
    await eventually(async () => assert.notEqual((await lease('crash'))?.spec?.renewTime, renewed), {
      timeoutMs: 10_000,
    })
    assert.equal(b.isLeader, false)

    await a.stop({ release: false }) // like a killed process: the lease stays, unrenewed
    await eventually(() => assert.equal(b.isLeader, true), { timeoutMs: 30_000 })
    const after = await lease('crash')
    assert.equal(after?.spec?.holderIdentity, 'b')
    assert.equal(after?.spec?.leaseTransitions, 1)
    assert.deepEqual(events, ['a started', 'a stopped', 'b started'])
  })

  it('releases the lease on shutdown so a successor takes over', async () => {
    const events: string[] = []
    const a = elector('release', 'a', events)
    const b = elector('release', 'b', events)
    a.start()
    await eventually(() => assert.equal(a.isLeader, true))
    b.start()
    await eventually(() => assert.equal(b.leader, 'a'))
    await a.stop()
    assert.equal((await lease('release'))?.spec?.holderIdentity, undefined, 'holder cleared')
    await eventually(() => assert.equal(b.isLeader, true), { timeoutMs: 30_000 })
    assert.equal((await lease('release'))?.spec?.holderIdentity, 'b')
  })

  it('steps down when another holder takes the lease and it cannot renew within the deadline', async () => {
    const events: string[] = []
    const a = elector('stolen', 'a', events)
    a.start()
    await eventually(() => assert.equal(a.isLeader, true))
    const ref = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: ns, name: 'stolen' }
    // an intruder (say, a partitioned-away replica's successor) holds a fresh 30 s lease
    await eventually(async () => {
      const current = await cp.client.get<Lease & { apiVersion: string; kind: string; metadata: object }>(ref)
      await cp.client.replace({
        ...current!,
        spec: {
          ...current!.spec,
          holderIdentity: 'intruder',
          leaseDurationSeconds: 30,
          renewTime: microTime(Date.now()),
        },
      } as never)
    })
    await eventually(() => assert.equal(a.isLeader, false), { timeoutMs: 30_000 })
    assert.equal(a.leader, 'intruder')
    assert.deepEqual(events, ['a started', 'a stopped'])
    assert.equal((await lease('stolen'))?.spec?.holderIdentity, 'intruder', 'a did not take it back')
  })
})
