import { strict as assert } from 'node:assert'
import { createSocket, type Socket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { freePort } from './free-port.ts'
import { nextPort } from './port-base.ts'

/**
 * freePort: ports no socket bound to port 0 can be given (the kernel's ephemeral range is where a
 * DNS lookup, a SIPp or another run took an SBC's port before it bound it), each handed out once,
 * and free for TCP and UDP when handed out.
 */
describe('test harness: freePort', () => {
  const [ephMin = 32_768, ephMax = 60_999] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number)

  const udp = (port: number) =>
    new Promise<Socket>((resolve, reject) => {
      const s = createSocket('udp4')
      s.once('error', reject)
      s.bind(port, '127.0.0.1', () => resolve(s))
    })
  const tcp = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const srv = createServer()
      srv.once('error', reject)
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()))
    })

  it('hands out distinct ports outside the ephemeral range that TCP and UDP can bind', async () => {
    const ports: number[] = []
    for (let i = 0; i < 50; i++) ports.push(await freePort())
    assert.equal(new Set(ports).size, ports.length, 'each port once')
    for (const p of ports) {
      assert.ok(p >= 20_000 && p <= 65_535, `${p} in 20000-65535`)
      assert.ok(p < ephMin || p > ephMax, `${p} outside ${ephMin}-${ephMax}`)
      await tcp(p)
      ;(await udp(p)).close()
    }
  })

  it('skips a port another socket holds', async () => {
    // The sequence is consecutive: the port after this one is freePort's next candidate.
    let held: Socket | undefined
    let port = 0
    for (let i = 0; i < 20 && held === undefined; i++) {
      port = nextPort() + 1
      held = await udp(port).catch(() => undefined)
    }
    assert.ok(held, 'a port to hold')
    try {
      assert.notEqual(await freePort(), port)
    } finally {
      held.close()
    }
  })
})
