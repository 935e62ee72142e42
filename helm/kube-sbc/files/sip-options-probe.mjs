// kube-sbc `helm test` probe: sends one SIP OPTIONS request (RFC 3261 section 11) to
// SIP_TARGET_HOST:SIP_TARGET_PORT over SIP_TRANSPORT (udp or tcp) and exits 0 on a final
// "SIP/2.0 200" response, 1 on any other final response, no response or an error.
// Plain JavaScript with Node built-ins only, so it runs with `node --eval` in the kube-sbc image.
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { lookup } from 'node:dns/promises'
import { connect, isIPv6 } from 'node:net'

const host = process.env.SIP_TARGET_HOST ?? ''
const port = Number(process.env.SIP_TARGET_PORT ?? '5060')
const transport = (process.env.SIP_TRANSPORT ?? 'udp').toLowerCase()
const timeoutMs = Number(process.env.SIP_TIMEOUT_SECONDS ?? '10') * 1000

function fail(message) {
  console.error(`sip-options-probe: FAIL ${message}`)
  process.exit(1)
}

function request(localHost, localPort) {
  const hostPart = (h) => (isIPv6(h) ? `[${h}]` : h)
  const branch = `z9hG4bK-${randomBytes(8).toString('hex')}`
  const tag = randomBytes(6).toString('hex')
  const callId = `${randomBytes(12).toString('hex')}@kube-sbc-helm-test`
  return [
    `OPTIONS sip:${hostPart(host)}:${port};transport=${transport} SIP/2.0`,
    `Via: SIP/2.0/${transport.toUpperCase()} ${hostPart(localHost)}:${localPort};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:helm-test@kube-sbc.invalid>;tag=${tag}`,
    `To: <sip:${hostPart(host)}:${port}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    `Contact: <sip:helm-test@${hostPart(localHost)}:${localPort};transport=${transport}>`,
    'Accept: application/sdp',
    'User-Agent: kube-sbc-helm-test',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n')
}

/** Returns the status code of a final response in `text`, or undefined for 1xx or garbage. */
function finalStatus(text) {
  const m = /^SIP\/2\.0 (\d{3}) ?(.*)\r?\n/.exec(text)
  if (!m) return undefined
  const code = Number(m[1])
  return code >= 200 ? { code, reason: m[2] ?? '' } : undefined
}

function done(status) {
  if (status.code === 200) {
    console.log(`sip-options-probe: OK ${host}:${port}/${transport} answered 200 ${status.reason}`)
    process.exit(0)
  }
  fail(`${host}:${port}/${transport} answered ${status.code} ${status.reason}, expected 200`)
}

async function viaUdp() {
  const { address } = await lookup(host)
  const sock = createSocket(isIPv6(address) ? 'udp6' : 'udp4')
  await new Promise((resolve, reject) => {
    sock.once('error', reject)
    sock.connect(port, address, resolve)
  })
  const local = sock.address()
  const msg = Buffer.from(request(local.address, local.port))
  sock.on('message', (buf) => {
    const status = finalStatus(buf.toString('utf8'))
    if (status) done(status)
  })
  sock.on('error', (err) => fail(`${host}:${port}/udp: ${err.message}`))
  // Timer E: retransmit at 500 ms, doubling up to T2 = 4 s.
  let interval = 500
  const send = () => {
    sock.send(msg)
    setTimeout(send, interval).unref()
    interval = Math.min(interval * 2, 4000)
  }
  send()
}

function viaTcp() {
  const sock = connect({ host, port })
  let buf = ''
  sock.setEncoding('utf8')
  sock.on('connect', () => sock.write(request(sock.localAddress ?? '0.0.0.0', sock.localPort ?? 0)))
  sock.on('data', (chunk) => {
    buf += chunk
    for (;;) {
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = buf.slice(0, end + 4)
      const len = Number(/\r\n(?:Content-Length|l)\s*:\s*(\d+)/i.exec(head)?.[1] ?? '0')
      if (buf.length < end + 4 + len) return
      buf = buf.slice(end + 4 + len)
      const status = finalStatus(head)
      if (status) done(status)
    }
  })
  sock.on('error', (err) => fail(`${host}:${port}/tcp: ${err.message}`))
  sock.on('close', () => fail(`${host}:${port}/tcp closed the connection without a final response`))
}

if (!host) fail('SIP_TARGET_HOST is empty')
if (!Number.isInteger(port) || port < 1 || port > 65535)
  fail(`bad SIP_TARGET_PORT ${process.env.SIP_TARGET_PORT}`)
setTimeout(
  () => fail(`no final response from ${host}:${port}/${transport} within ${timeoutMs} ms`),
  timeoutMs,
)
if (transport === 'udp') viaUdp().catch((err) => fail(`${host}:${port}/udp: ${err.message}`))
else if (transport === 'tcp') viaTcp()
else fail(`unsupported SIP_TRANSPORT ${transport} (udp or tcp)`)
