import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'

/** A probe answers true when the component is ready (or alive); it may explain why not. */
export type Probe = () =>
  | boolean
  | { ok: boolean; reason?: string }
  | Promise<boolean | { ok: boolean; reason?: string }>

export interface ObservabilityServerOptions {
  host?: string
  port: number
  registry: Registry
  /** `/healthz`: the process can make progress. Defaults to always true. */
  liveness?: Probe
  /** `/readyz`: the process should receive traffic (false while draining or before config). */
  readiness?: Probe
}

export interface ObservabilityServer {
  readonly port: number
  close(): Promise<void>
}

async function runProbe(probe: Probe | undefined): Promise<{ ok: boolean; reason?: string }> {
  if (!probe) return { ok: true }
  try {
    const r = await probe()
    return typeof r === 'boolean' ? { ok: r } : r
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) }
  }
}

/**
 * The single HTTP port of every long-running kube-sbc process (docs/design/20261126.runtime-contract.md):
 * `GET /metrics` in the Prometheus text format, `GET /healthz` and `GET /readyz` answering 200 `ok`
 * or 503 with the reason, as kubelet probes expect. Anything else is 404.
 */
export async function startObservabilityServer(
  options: ObservabilityServerOptions,
): Promise<ObservabilityServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    const answer = async () => {
      if (path === '/metrics') {
        const body = await options.registry.metrics()
        res.writeHead(200, { 'content-type': options.registry.contentType }).end(body)
        return
      }
      if (path === '/healthz' || path === '/readyz') {
        const r = await runProbe(path === '/healthz' ? options.liveness : options.readiness)
        res
          .writeHead(r.ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' })
          .end(r.ok ? 'ok\n' : `not ready: ${r.reason ?? 'unavailable'}\n`)
        return
      }
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n')
    }
    answer().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
      res.end(`error: ${err instanceof Error ? err.message : String(err)}\n`)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
