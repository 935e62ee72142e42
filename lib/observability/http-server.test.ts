import assert from 'node:assert/strict'
import { Counter } from 'prom-client'
import { type ObservabilityServer, startObservabilityServer } from './http-server.ts'
import { createMetricsRegistry } from './metrics-registry.ts'

describe('the observability HTTP server', () => {
  let server: ObservabilityServer
  let ready = false
  const registry = createMetricsRegistry({ component: 'test' })
  const counter = new Counter({
    name: 'sbc_test_events_total',
    help: 'Events seen by the test.',
    registers: [registry],
  })

  before(async () => {
    server = await startObservabilityServer({
      host: '127.0.0.1',
      port: 0,
      registry,
      readiness: () => (ready ? true : { ok: false, reason: 'draining' }),
    })
  })
  after(() => server.close())

  const get = (path: string, method = 'GET') => fetch(`http://127.0.0.1:${server.port}${path}`, { method })

  it('serves registered metrics with default labels in the Prometheus text format', async () => {
    counter.inc(3)
    const res = await get('/metrics')
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/)
    const body = await res.text()
    assert.match(body, /^sbc_test_events_total\{component="test"\} 3$/m)
    assert.match(body, /^process_cpu_user_seconds_total/m)
  })

  it('answers /healthz with 200 when no liveness probe is given', async () => {
    const res = await get('/healthz')
    assert.equal(res.status, 200)
    assert.equal(await res.text(), 'ok\n')
  })

  it('answers /readyz with 503 and the reason while not ready, then 200', async () => {
    ready = false
    let res = await get('/readyz')
    assert.equal(res.status, 503)
    assert.equal(await res.text(), 'not ready: draining\n')
    ready = true
    res = await get('/readyz')
    assert.equal(res.status, 200)
  })

  it('answers unknown paths with 404 and other methods with 405', async () => {
    assert.equal((await get('/nope')).status, 404)
    assert.equal((await get('/metrics', 'POST')).status, 405)
  })
})
