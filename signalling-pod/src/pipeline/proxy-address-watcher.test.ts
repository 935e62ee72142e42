import assert from 'node:assert/strict'
import type { Logger } from '../../../lib/observability/logger.ts'
import { inbound, request, uclabConfig } from './fixtures.ts'
import { CompiledPipeline, decide, type Resolve, type ResolvedAddress } from './pipeline.ts'
import { ProxyAddressWatcher } from './proxy-address-watcher.ts'

/**
 * The uclab webex group's only proxy is the SRV name eun01.sipconnect.bcld.webex.com (fromProxySet):
 * a request from an address it resolves to classifies to webex (routed to twilio); any other
 * address, without a Webex certificate, gets 403.
 */
const sourceGroup = (p: CompiledPipeline, address: string): string | null => {
  const d = decide(p, inbound(request('INVITE'), { address }))
  return d.type === 'drop' ? null : d.sourceGroup
}

/** A logger keeping the lines, to read what the watcher said. */
function recorder(): {
  logger: Logger
  lines: { level: string; obj: Record<string, unknown>; msg: string }[]
} {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = []
  const at =
    (level: string) =>
    (obj: object, msg = '') =>
      lines.push({ level, obj: obj as Record<string, unknown>, msg })
  const logger: Logger = {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  }
  return { logger, lines }
}

/**
 * A resolver answering each SRV lookup (webex) with the next entry of `answers` (an Error rejects);
 * A lookups (twilio) fail.
 */
function scripted(answers: (ResolvedAddress[] | Error)[]): { resolve: Resolve; calls: string[] } {
  const calls: string[] = []
  const resolve: Resolve = async (host, kind, transport) => {
    calls.push(`${kind} ${host} ${transport}`)
    if (kind === 'A') throw new Error('NXDOMAIN')
    const a = answers.shift()
    if (a === undefined || a instanceof Error) throw a ?? new Error('no more answers')
    return a
  }
  return { resolve, calls }
}

const addr = (address: string, ttlSeconds?: number): ResolvedAddress => ({
  address,
  port: 5062,
  transport: 'TLS',
  ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
})

describe('ProxyAddressWatcher (classification by A/SRV proxy sets)', () => {
  it('classifies traffic from the addresses an SRV proxy resolves to, before any call', async () => {
    const { resolve, calls } = scripted([[addr('198.51.100.7', 60), addr('198.51.100.8', 60)]])
    const w = new ProxyAddressWatcher({ resolve, logger: recorder().logger })
    const p = CompiledPipeline.from(uclabConfig())
    assert.equal(sourceGroup(p, '198.51.100.7'), null, 'nothing known yet')
    w.watch(p)
    await w.settled()
    w.close()
    assert.deepEqual(calls.sort(), [
      'A uclabdev.pstn.twilio.com TLS',
      'SRV eun01.sipconnect.bcld.webex.com TLS',
    ])
    assert.equal(sourceGroup(p, '198.51.100.7'), 'webex')
    assert.equal(sourceGroup(p, '198.51.100.8'), 'webex')
    assert.equal(sourceGroup(p, '198.51.100.9'), null)
  })

  it('carries the last known addresses into a new generation at once, and keeps them when its lookup fails', async () => {
    const { resolve } = scripted([[addr('198.51.100.7')], new Error('ECONNREFUSED')])
    const { logger, lines } = recorder()
    const failed: string[] = []
    const w = new ProxyAddressWatcher({
      resolve,
      logger,
      onLookup: (g, proxy, result) => failed.push(`${g} ${proxy} ${result}`),
    })
    w.watch(CompiledPipeline.from(uclabConfig()))
    await w.settled()
    const next = CompiledPipeline.from(uclabConfig((c) => (c.generation = 2)))
    w.watch(next)
    assert.equal(sourceGroup(next, '198.51.100.7'), 'webex', 'in the swap, before any lookup')
    await w.settled()
    w.close()
    assert.equal(sourceGroup(next, '198.51.100.7'), 'webex', 'after the failed lookup')
    assert.deepEqual(failed.sort(), [
      'twilio uclabdev.pstn.twilio.com failed',
      'twilio uclabdev.pstn.twilio.com failed',
      'webex eun01.sipconnect.bcld.webex.com failed',
      'webex eun01.sipconnect.bcld.webex.com ok',
    ])
    const warn = lines.find((l) => l.level === 'warn' && l.obj.ipGroup === 'webex')
    assert.deepEqual(warn?.obj.keeping, ['198.51.100.7'])
  })

  it('replaces the addresses of a proxy by its next answer', async () => {
    // TTL 0: the refresh comes after the floor, 10 ms.
    let answer = [addr('198.51.100.7', 0)]
    let lookups = 0
    let looked: () => void = () => {}
    const resolve: Resolve = async (_host, kind) => {
      if (kind !== 'SRV') throw new Error('NXDOMAIN')
      lookups++
      looked()
      return answer
    }
    const w = new ProxyAddressWatcher({ resolve, logger: recorder().logger, minRefreshSeconds: 0.01 })
    const p = CompiledPipeline.from(uclabConfig())
    w.watch(p)
    await w.settled()
    assert.equal(sourceGroup(p, '198.51.100.7'), 'webex')
    answer = [addr('198.51.100.20', 0)]
    await new Promise<void>((r) => {
      looked = r
    })
    await w.settled()
    w.close()
    assert.ok(lookups >= 2)
    assert.equal(sourceGroup(p, '198.51.100.20'), 'webex')
    assert.equal(sourceGroup(p, '198.51.100.7'), null, 'the address the proxy no longer resolves to')
  })

  it('keeps an address two proxies of a group resolve to while one of them still does', async () => {
    const answers: Record<string, ResolvedAddress[][]> = {
      'a.webex.test': [[addr('198.51.100.7', 0)], [addr('198.51.100.9', 0)]],
      'b.webex.test': [[addr('198.51.100.7', 0)]],
    }
    const resolve: Resolve = async (host, kind) => {
      const next = kind === 'SRV' ? answers[host]?.shift() : undefined
      if (next === undefined) throw new Error('NXDOMAIN')
      return next
    }
    const w = new ProxyAddressWatcher({ resolve, logger: recorder().logger, minRefreshSeconds: 0.01 })
    const p = CompiledPipeline.from(
      uclabConfig((c) => {
        const webex = c.groups.find((g) => g.name === 'webex')!
        const srv = webex.proxies[0]!
        webex.proxies = [
          { ...srv, address: 'a.webex.test' },
          { ...srv, address: 'b.webex.test' },
        ]
      }),
    )
    w.watch(p)
    await w.settled()
    assert.equal(sourceGroup(p, '198.51.100.7'), 'webex')
    // a.webex.test's next answer no longer has it; b.webex.test's lookups fail from now on.
    while (answers['a.webex.test']!.length > 0) await new Promise((r) => setTimeout(r, 5))
    await w.settled()
    w.close()
    assert.equal(sourceGroup(p, '198.51.100.9'), 'webex')
    assert.equal(sourceGroup(p, '198.51.100.7'), 'webex', 'b.webex.test still has it')
  })

  it("refreshes when the answer's TTL runs out, within the floor and the ceiling", async () => {
    for (const [ttl, refresh] of [
      [5, 30],
      [600, 600],
      [86_400, 3600],
      [undefined, 3600],
    ] as const) {
      const { resolve } = scripted([[addr('198.51.100.7', ttl)]])
      const { logger, lines } = recorder()
      const w = new ProxyAddressWatcher({ resolve, logger })
      w.watch(CompiledPipeline.from(uclabConfig()))
      await w.settled()
      w.close()
      const info = lines.find((l) => l.level === 'info' && l.obj.ipGroup === 'webex')
      assert.equal(info?.obj.refreshSeconds, refresh, `TTL ${ttl}`)
    }
  })

  it('leaves groups without fromProxySet alone', async () => {
    const { resolve, calls } = scripted([])
    const w = new ProxyAddressWatcher({ resolve, logger: recorder().logger })
    w.watch(
      CompiledPipeline.from(
        uclabConfig((c) => {
          for (const g of c.groups) g.classification.fromProxySet = false
        }),
      ),
    )
    await w.settled()
    w.close()
    assert.deepEqual(calls, [])
  })
})
