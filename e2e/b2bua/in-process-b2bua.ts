import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { Registry } from 'prom-client'
import { listYamlFiles, loadObjects } from '../../cli/load-objects.ts'
import { compile } from '../../lib/config/compile/compile.ts'
import type { SbcConfig } from '../../lib/config/model.ts'
import { validateConfig } from '../../lib/config/validate.ts'
import { nullLogger } from '../../lib/observability/logger.ts'
import { createMetricsRegistry } from '../../lib/observability/metrics-registry.ts'
import { RedisStore } from '../../lib/state/redis-store.ts'
import type { TtlPolicy } from '../../lib/state/ttl-policy.ts'
import { CdrWriter } from '../../signalling-pod/src/cdr.ts'
import { SignallingServer, type SignallingServerOptions } from '../../signalling-pod/src/signalling-server.ts'
import { configYaml, type SbcPorts, sbcPorts } from './harness.ts'
import { openPeers, type Peers, startStore, type TestStore } from './two-processes.ts'

export interface InProcessB2buaOptions {
  /** Names the config's temporary folder and the pod. */
  name: string
  /** The CDR lines are pushed here as they are written. */
  cdrs: string[]
  /** The store's TTL policy (tests shorten it); RedisStore's default when absent. */
  ttl?: TtlPolicy
  /** The process's metrics registry; a new one when absent. */
  registry?: Registry
  /** Options of the server the test shortens. */
  server?: Pick<SignallingServerOptions, 'interfaceDrainMs' | 'ringingLimitMs' | 'media'>
}

export interface InProcessB2bua {
  store: TestStore
  peers: Peers
  rs: RedisStore
  server: SignallingServer
  registry: Registry
  ports: SbcPorts
  /** `yaml` compiled and validated as the config of `generation`, the way `kube-sbc run` reads it. */
  configOf(yaml: string, generation: number): Promise<SbcConfig>
  close(): Promise<void>
}

/**
 * A B2BUA in this process on a real redis-server, its caller (`pbx`) and callee (`carrier`) bare
 * UDP sockets (openPeers), the config of harness.ts's configYaml over UDP, CDR lines to a sink.
 * What started is stopped again when a later step fails.
 */
export async function startInProcessB2bua(options: InProcessB2buaOptions): Promise<InProcessB2bua> {
  let store: TestStore | undefined
  let peers: Peers | undefined
  let rs: RedisStore | undefined
  let server: SignallingServer | undefined
  let dir: string | undefined
  const close = async () => {
    await server?.close()
    await rs?.close()
    peers?.close()
    await store?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  }
  try {
    store = await startStore()
    peers = await openPeers()
    const ports = await sbcPorts()
    const folder = await mkdtemp(join(tmpdir(), `sbc-${options.name}-`))
    dir = folder
    const configOf = async (yaml: string, generation: number) => {
      await writeFile(join(folder, 'sbc.yaml'), yaml)
      const { objects } = loadObjects(listYamlFiles([folder]))
      return validateConfig(
        compile(
          objects.map((o) => o.object),
          { generation },
        ).config,
      )
    }
    const config = await configOf(configYaml(ports, peers.uacPort, peers.uasPort, 'UDP'), 1)
    rs = new RedisStore(options.ttl ? { url: store.redis.url, ttl: options.ttl } : { url: store.redis.url })
    await rs.connected()
    const registry = options.registry ?? createMetricsRegistry()
    server = await SignallingServer.start({
      config,
      store: rs,
      logger: nullLogger,
      registry,
      podName: `${options.name}-test`,
      podAddress: '127.0.0.1',
      ...options.server,
      cdr: new CdrWriter(
        new Writable({
          write(chunk, _e, done) {
            options.cdrs.push(String(chunk))
            done()
          },
        }),
      ),
    })
    return { store, peers, rs, server, registry, ports, configOf, close }
  } catch (e) {
    await close()
    throw e
  }
}
