import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { freePort } from '../../test/harness/free-port.ts'
import { startRedis, type TestRedis } from '../../test/harness/redis.ts'
import { type Sbc, type SbcPorts, sbcPorts, startSbc } from './harness.ts'
import { UdpPeer } from './udp-peer.ts'

/**
 * Shared set-up of the multi-process tests (docs/b2bua.md, "Multi-process"): `kube-sbc run --redis`
 * processes on one redis-server of the test's own ({@link startStore}, {@link startTwoProcesses}),
 * caller and callee as bare UDP sockets ({@link openPeers}), all three in one describe's hooks
 * ({@link useTwoProcesses}), and {@link until}.
 */

/** A redis-server of the test's own and a command connection to it. */
export interface TestStore {
  readonly redis: TestRedis
  readonly client: Redis
  /** Calls, their leg indexes and admission holds, sorted; the media-pod registry (`{m}`) stays out. */
  keys(): Promise<string[]>
  close(): Promise<void>
}

export async function startStore(): Promise<TestStore> {
  const redis = await startRedis()
  const client = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  return {
    redis,
    client,
    keys: async () => (await client.keys('*')).filter((k) => !k.includes('{m}')).sort(),
    async close() {
      client.disconnect()
      await redis.close()
    },
  }
}

/** Caller and callee: bare UDP sockets of the test on free ports. */
export interface Peers {
  readonly uacPort: number
  readonly uasPort: number
  readonly caller: UdpPeer
  readonly callee: UdpPeer
  close(): void
}

export async function openPeers(): Promise<Peers> {
  const uacPort = await freePort()
  const uasPort = await freePort()
  const caller = await UdpPeer.open(uacPort)
  const callee = await UdpPeer.open(uasPort)
  return {
    uacPort,
    uasPort,
    caller,
    callee,
    close() {
      caller.close()
      callee.close()
    },
  }
}

type SbcOptions = NonNullable<Parameters<typeof startSbc>[3]>

/**
 * Two `kube-sbc run --redis` processes A and B on `redisUrl`, on their own ports; `options` (or the
 * options for each process's ports) as for {@link startSbc}.
 */
export async function startTwoProcesses(
  redisUrl: string,
  uacPort: number,
  uasPort: number,
  options: SbcOptions | ((ports: SbcPorts) => SbcOptions) = {},
): Promise<{ a: Sbc; b: Sbc }> {
  const start = async () => {
    const ports = await sbcPorts()
    const o = typeof options === 'function' ? options(ports) : options
    return startSbc(ports, uacPort, uasPort, { ...o, redis: redisUrl })
  }
  const a = await start()
  try {
    return { a, b: await start() }
  } catch (err) {
    await a.close()
    throw err
  }
}

/** What {@link useTwoProcesses} started; the fields are set once the describe's `before` has run. */
export interface TwoProcesses {
  readonly store: TestStore
  readonly a: Sbc
  readonly b: Sbc
  readonly uacPort: number
  readonly uasPort: number
}

/** {@link TwoProcesses} with the caller and the callee as bare UDP sockets on those ports. */
export interface TwoProcessesWithPeers extends TwoProcesses {
  readonly caller: UdpPeer
  readonly callee: UdpPeer
}

export interface UseTwoProcessesOptions {
  /** For each process, as for {@link startTwoProcesses}. */
  readonly sbc?: Parameters<typeof startTwoProcesses>[3]
  /**
   * `false`: free ports only, no sockets on them (the test's caller and callee are SIPp, which
   * binds those ports itself).
   */
  readonly peers?: boolean
}

/**
 * Registers, in the calling describe, a `before` that starts a redis-server, opens the peers and
 * starts processes A and B, and an `after` that closes them in reverse (what a failed `before` did
 * not start is skipped). Returns the context object those hooks fill in.
 */
export function useTwoProcesses(options?: UseTwoProcessesOptions & { peers?: true }): TwoProcessesWithPeers
export function useTwoProcesses(options: UseTwoProcessesOptions & { peers: false }): TwoProcesses
export function useTwoProcesses(options: UseTwoProcessesOptions = {}): TwoProcesses {
  const t: { -readonly [K in keyof TwoProcessesWithPeers]?: TwoProcessesWithPeers[K] } = {}
  let peers: Peers | undefined
  before(async () => {
    t.store = await startStore()
    if (options.peers === false) {
      t.uacPort = await freePort()
      t.uasPort = await freePort()
    } else {
      peers = await openPeers()
      ;({ caller: t.caller, callee: t.callee, uacPort: t.uacPort, uasPort: t.uasPort } = peers)
    }
    ;({ a: t.a, b: t.b } = await startTwoProcesses(t.store.redis.url, t.uacPort, t.uasPort, options.sbc))
  })
  after(async () => {
    await t.a?.close()
    await t.b?.close()
    peers?.close()
    await t.store?.close()
  })
  // Read only in tests and hooks that run after `before`, which sets every field (or fails them).
  return t as TwoProcessesWithPeers
}

/** Polls `cond` every 25 ms for up to 10 s; fails the test naming `what` when it never holds. */
export async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await cond()) return
    await new Promise((r) => setTimeout(r, 25))
  }
  assert.fail(`timed out waiting for ${what}`)
}
