import assert from 'node:assert/strict'
import { createSocket, type RemoteInfo } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { startProcess } from '../harness/child-process.ts'
import { chartDir } from './chart.ts'

/**
 * The `helm test` probe (helm/kube-sbc/files/sip-options-probe.mjs), run exactly as the test Pod
 * runs it (`node --input-type=module --eval <script>`) against SIP responders on 127.0.0.1.
 */
const script = readFileSync(join(chartDir, 'files', 'sip-options-probe.mjs'), 'utf8')

async function runProbe(
  env: Record<string, string>,
): Promise<{ code: number | string | null; output: string }> {
  const p = startProcess(process.execPath, ['--input-type=module', '--eval', script], {
    env: { PATH: process.env.PATH ?? '', SIP_TIMEOUT_SECONDS: '3', ...env },
  })
  const code = await p.exited
  return { code, output: p.output() }
}

/** A response echoing the request's Via, From, To, Call-ID and CSeq, as RFC 3261 section 8.2.6 says. */
function answer(request: string, status: string): string {
  const copy = request
    .split('\r\n')
    .filter((l) => /^(Via|From|To|Call-ID|CSeq):/i.test(l))
    .map((l) => (/^To:/i.test(l) ? `${l};tag=sbc1` : l))
  return [`SIP/2.0 ${status}`, ...copy, 'Content-Length: 0', '', ''].join('\r\n')
}

function udpResponder(onRequest: (req: string, from: RemoteInfo, reply: (s: string) => void) => void) {
  const sock = createSocket('udp4')
  const received: string[] = []
  sock.on('message', (buf, from) => {
    const req = buf.toString('utf8')
    received.push(req)
    onRequest(req, from, (s) => sock.send(s, from.port, from.address))
  })
  return {
    received,
    port: () =>
      new Promise<number>((resolve) => sock.bind(0, '127.0.0.1', () => resolve(sock.address().port))),
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  }
}

describe('helm test probe: sip-options-probe.mjs', function () {
  this.timeout(15_000)

  it('UDP: passes on 200 after a 100 Trying, and sends a well-formed OPTIONS', async () => {
    const r = udpResponder((req, _from, reply) => {
      reply(answer(req, '100 Trying'))
      reply(answer(req, '200 OK'))
    })
    const port = await r.port()
    try {
      const res = await runProbe({
        SIP_TARGET_HOST: '127.0.0.1',
        SIP_TARGET_PORT: String(port),
        SIP_TRANSPORT: 'udp',
      })
      assert.equal(res.code, 0, res.output)
      assert.match(res.output, /OK 127\.0\.0\.1:\d+\/udp answered 200 OK/)
      const req = r.received[0] ?? ''
      assert.match(req, new RegExp(`^OPTIONS sip:127\\.0\\.0\\.1:${port};transport=udp SIP/2\\.0\\r\\n`))
      assert.match(req, /\r\nVia: SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK[-0-9a-f]+;rport\r\n/)
      for (const h of ['Max-Forwards: 70', 'CSeq: 1 OPTIONS', 'Content-Length: 0'])
        assert.ok(req.includes(`\r\n${h}\r\n`), h)
      assert.match(req, /\r\nFrom: <sip:[^>]+>;tag=[0-9a-f]+\r\n/)
      assert.match(req, /\r\nCall-ID: \S+\r\n/)
      assert.ok(req.endsWith('\r\n\r\n'))
    } finally {
      await r.close()
    }
  })

  it('UDP: retransmits when the first request is lost', async () => {
    let seen = 0
    const r = udpResponder((req, _from, reply) => {
      seen++
      if (seen >= 2) reply(answer(req, '200 OK'))
    })
    const port = await r.port()
    try {
      const res = await runProbe({
        SIP_TARGET_HOST: '127.0.0.1',
        SIP_TARGET_PORT: String(port),
        SIP_TRANSPORT: 'udp',
      })
      assert.equal(res.code, 0, res.output)
      assert.ok(r.received.length >= 2)
      const branch = (s: string) => /branch=([^;\r]+)/.exec(s)?.[1]
      assert.equal(
        branch(r.received[0] ?? ''),
        branch(r.received[1] ?? ''),
        'a retransmission keeps its branch',
      )
    } finally {
      await r.close()
    }
  })

  it('UDP: fails on a non-200 final response, and on silence', async () => {
    const r = udpResponder((req, _from, reply) => reply(answer(req, '503 Service Unavailable')))
    const port = await r.port()
    try {
      const res = await runProbe({
        SIP_TARGET_HOST: '127.0.0.1',
        SIP_TARGET_PORT: String(port),
        SIP_TRANSPORT: 'udp',
      })
      assert.equal(res.code, 1)
      assert.match(res.output, /FAIL .* answered 503 Service Unavailable, expected 200/)
    } finally {
      await r.close()
    }
    const silent = udpResponder(() => {})
    const silentPort = await silent.port()
    try {
      const res = await runProbe({
        SIP_TARGET_HOST: '127.0.0.1',
        SIP_TARGET_PORT: String(silentPort),
        SIP_TRANSPORT: 'udp',
        SIP_TIMEOUT_SECONDS: '1',
      })
      assert.equal(res.code, 1)
      assert.match(res.output, /no final response .* within 1000 ms/)
    } finally {
      await silent.close()
    }
  })

  it('TCP: passes on a 200 split across segments, fails when the connection is refused', async () => {
    const sockets = new Set<Socket>()
    const server: Server = createServer((sock) => {
      sockets.add(sock)
      let buf = ''
      sock.on('data', (d) => {
        buf += d.toString('utf8')
        if (!buf.includes('\r\n\r\n')) return
        const resp = answer(buf, '200 OK')
        sock.write(resp.slice(0, 10))
        setTimeout(() => sock.write(resp.slice(10)), 50)
      })
    })
    const port = await new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
    )
    try {
      const res = await runProbe({
        SIP_TARGET_HOST: '127.0.0.1',
        SIP_TARGET_PORT: String(port),
        SIP_TRANSPORT: 'tcp',
      })
      assert.equal(res.code, 0, res.output)
      assert.match(res.output, /answered 200 OK/)
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
    const refused = await runProbe({
      SIP_TARGET_HOST: '127.0.0.1',
      SIP_TARGET_PORT: String(port),
      SIP_TRANSPORT: 'tcp',
    })
    assert.equal(refused.code, 1)
    assert.match(refused.output, /FAIL 127\.0\.0\.1:\d+\/tcp: connect ECONNREFUSED/)
  })

  it('rejects a bad configuration', async () => {
    const res = await runProbe({
      SIP_TARGET_HOST: '127.0.0.1',
      SIP_TARGET_PORT: '5060',
      SIP_TRANSPORT: 'sctp',
    })
    assert.equal(res.code, 1)
    assert.match(res.output, /unsupported SIP_TRANSPORT sctp/)
  })
})
