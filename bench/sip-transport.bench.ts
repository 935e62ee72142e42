/**
 * SIP transport hot paths, side by side in one run: `node bench/sip-transport.bench.ts`.
 *
 * 1. UDP send of a 1 kB INVITE to a loopback sink: raw `dgram` `socket.send` wrapped in our own
 *    promise (what `UdpTransport.send` does) versus `dgram-as-promised` `SocketAsPromised.send`.
 * 2. UDP receive: the raw `message` event versus a `SocketAsPromised.recv()` loop.
 * 3. TCP framing of INVITEs split into 1,460-byte segments (`TcpFramer`).
 *
 * Bounded: ROUNDS × N operations per case, a few seconds in total; loopback only. Reports the best and
 * median round in µs per operation.
 */
import { createSocket, type Socket } from 'node:dgram'
import DgramAsPromised, { type SocketAsPromised } from 'dgram-as-promised'
import { TcpFramer } from '../lib/sip/transport/tcp-framer.ts'

const ROUNDS = 7
const N = 5_000

const body =
  'v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n' +
  'm=audio 49170 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n'
const INVITE = Buffer.from(
  [
    'INVITE sip:bob@biloxi.example.com SIP/2.0',
    'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8;rport',
    'Max-Forwards: 70',
    'To: Bob <sip:bob@biloxi.example.com>',
    'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
    'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
    'CSeq: 314159 INVITE',
    'Contact: <sip:alice@pc33.atlanta.example.com>',
    'Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, UPDATE',
    'Supported: replaces, timer, 100rel',
    'User-Agent: kube-sbc-bench/1.0',
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n'),
)

function bind(s: Socket): Promise<number> {
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(s.address().port)))
}

function rawSend(s: Socket, port: number): Promise<void> {
  return new Promise((resolve, reject) =>
    s.send(INVITE, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
  )
}

async function timeRounds(name: string, round: () => Promise<void>): Promise<void> {
  const us: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now()
    await round()
    us.push(((performance.now() - t0) * 1000) / N)
  }
  us.sort((a, b) => a - b)
  console.log(`${name.padEnd(44)} best ${us[0]!.toFixed(2)} µs  median ${us[ROUNDS >> 1]!.toFixed(2)} µs`)
}

const sink = createSocket('udp4')
const sinkPort = await bind(sink)
sink.on('message', () => {})

const raw = createSocket('udp4')
await bind(raw)
const managed: SocketAsPromised = DgramAsPromised.createSocket('udp4')
await managed.bind(0, '127.0.0.1')

// Sequential awaits measure per-message latency of the call path, as a transaction send does.
await timeRounds('UDP send, raw dgram + own promise', async () => {
  for (let i = 0; i < N; i++) await rawSend(raw, sinkPort)
})
await timeRounds('UDP send, dgram-as-promised', async () => {
  for (let i = 0; i < N; i++) await managed.send(INVITE, sinkPort, '127.0.0.1')
})
await timeRounds('UDP send, raw dgram + own promise (again)', async () => {
  for (let i = 0; i < N; i++) await rawSend(raw, sinkPort)
})

// Receive: the sender bursts in windows of 64 so the receiver never falls behind the socket buffer.
const WINDOW = 64
async function receiveRounds(
  name: string,
  receive: (n: number) => Promise<void>,
  port: number,
): Promise<void> {
  await timeRounds(name, async () => {
    for (let sent = 0; sent < N; sent += WINDOW) {
      const n = Math.min(WINDOW, N - sent)
      const got = receive(n)
      for (let i = 0; i < n; i++) raw.send(INVITE, port, '127.0.0.1')
      await got
    }
  })
}

const rxRaw = createSocket('udp4')
const rxRawPort = await bind(rxRaw)
let pending = 0
let wake: (() => void) | undefined
rxRaw.on('message', () => {
  if (--pending === 0) wake?.()
})
await receiveRounds(
  'UDP receive, raw message event',
  (n) =>
    new Promise<void>((resolve) => {
      pending = n
      wake = resolve
    }),
  rxRawPort,
)

const rxManaged = DgramAsPromised.createSocket('udp4')
const rxManagedAddr = await rxManaged.bind(0, '127.0.0.1')
await receiveRounds(
  'UDP receive, dgram-as-promised recv()',
  async (n) => {
    for (let i = 0; i < n; i++) await rxManaged.recv()
  },
  rxManagedAddr.port,
)

// Framer: N INVITEs as one stream, cut into MSS-sized segments.
const stream = Buffer.concat(Array.from({ length: N }, () => INVITE))
const segments: Buffer[] = []
for (let i = 0; i < stream.length; i += 1460) segments.push(stream.subarray(i, i + 1460))
let framed = 0
await timeRounds('TCP framing, 1460-byte segments', async () => {
  const framer = new TcpFramer({ onMessage: () => framed++, onPing() {}, onError: (e) => console.error(e) })
  for (const s of segments) framer.push(s)
})

console.log(`baseline: ${INVITE.length}-byte INVITE, N=${N}, ${ROUNDS} rounds, messages framed ${framed}`)
raw.close()
sink.close()
rxRaw.close()
await managed.close()
await rxManaged.close()
