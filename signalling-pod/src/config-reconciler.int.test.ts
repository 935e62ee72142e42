import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import type { InterfaceConfig, SbcConfig } from '../../lib/config/model.ts'
import { nullLogger } from '../../lib/observability/logger.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { ConfigReconciler, emptyConfig, planInterfaces } from './config-reconciler.ts'

/** The reconciler on real loopback sockets: keep, open, replace, drain and roll back. */

const iface = (name: string, port: number, advertised: string | null = null): InterfaceConfig => ({
  name,
  network: 'LAN',
  bindAddress: '127.0.0.1',
  listeners: [{ transport: 'UDP', port }],
  tls: null,
  advertised: { address: advertised, fqdn: null },
  mediaRealm: 'media',
  exposure: { mode: 'Service', serviceType: 'ClusterIP', loadBalancerIP: null },
})

const config = (generation: number, interfaces: InterfaceConfig[]): SbcConfig => ({
  ...emptyConfig(),
  generation,
  realms: [
    {
      name: 'media',
      network: 'LAN',
      bindAddress: '127.0.0.1',
      portRange: { min: 40000, max: 40099 },
      advertisedAddress: null,
      maxSessions: 10,
    },
  ],
  interfaces,
})

/** Binds UDP `port` on loopback: resolves with the socket, or rejects when it is taken. */
function bind(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4')
    s.once('error', reject)
    s.bind(port, '127.0.0.1', () => resolve(s))
  })
}
const close = (s: Socket) => new Promise<void>((r) => s.close(() => r()))

describe('ConfigReconciler', () => {
  const delegate = { layerDelegate: () => ({ onRequest: () => undefined }) }
  let r: ConfigReconciler
  beforeEach(() => {
    r = new ConfigReconciler({ delegate, logger: nullLogger, podAddress: '127.0.0.1', drainMs: 5000 })
  })
  afterEach(async () => r.close())

  it('plans keep, open, replace and remove by name', () => {
    const plan = planInterfaces(
      [iface('a', 5060), iface('b', 5070), iface('c', 5080)],
      [iface('a', 5060), iface('b', 5071), iface('d', 5090)],
    )
    assert.deepEqual(plan, { keep: ['a'], open: ['d'], replace: ['b'], remove: ['c'] })
  })

  it('keeps the sockets of an unchanged interface, opens new ones, drains removed ones', async () => {
    const [pa, pb] = [await freePort(), await freePort()]
    await r.apply(config(1, [iface('a', pa)]))
    const a = r.interfaces.get('a')
    const second = await r.apply(config(2, [iface('a', pa), iface('b', pb)]))
    assert.equal(r.interfaces.get('a'), a, 'the runtime of an unchanged interface stays')
    assert.deepEqual(second.plan, { keep: ['a'], open: ['b'], replace: [], remove: [] })
    await assert.rejects(bind(pb), /EADDRINUSE/)
    const third = await r.apply(config(3, [iface('a', pa)]))
    assert.equal(r.interfaces.has('b'), false)
    await third.drained
    await close(await bind(pb))
    assert.equal(r.config.generation, 3)
  })

  it('replaces a changed interface on the same port by closing it first', async () => {
    const pa = await freePort()
    await r.apply(config(1, [iface('a', pa)]))
    const a = r.interfaces.get('a')
    await r.apply(config(2, [iface('a', pa, '192.0.2.1')]))
    assert.notEqual(r.interfaces.get('a'), a)
    assert.equal(r.interfaces.get('a')?.contact('udp', 'x'), `<sip:x@192.0.2.1:${pa}>`)
  })

  it('rolls back when a listener cannot open: new sockets closed, old config and runtimes kept', async () => {
    const [pa, pc, taken] = [await freePort(), await freePort(), await freePort()]
    const blocker = await bind(taken)
    try {
      await r.apply(config(1, [iface('a', pa)]))
      const a = r.interfaces.get('a')
      await assert.rejects(
        r.apply(config(2, [iface('a', pa), iface('c', pc), iface('z', taken)])),
        new RegExp(`cannot bind UDP 127\\.0\\.0\\.1:${taken}`),
      )
      assert.equal(r.config.generation, 1)
      assert.deepEqual([...r.interfaces.keys()], ['a'])
      assert.equal(r.interfaces.get('a'), a)
      await close(await bind(pc)) // the interface opened before the failure was closed again
      await assert.rejects(bind(pa), /EADDRINUSE/) // and the running one still listens
    } finally {
      await close(blocker)
    }
  })

  it('refuses an invalid config before touching any socket', async () => {
    const pa = await freePort()
    await r.apply(config(1, [iface('a', pa)]))
    const bad = config(2, [{ ...iface('a', pa), mediaRealm: 'nope' }])
    await assert.rejects(r.apply(bad), /unknown realm nope/)
    assert.equal(r.config.generation, 1)
  })
})
