/**
 * The floor of a Node.js SIP server in the signalling benchmark: the least a Node process must do
 * to carry the benchmark's calls, so its CPU per call says what libuv's UDP I/O alone costs against
 * Kamailio's whole dialog-stateful processing (bench/signalling-calls.bench.ts, targets
 * `node-forward` and `node-forward#parse`). Not a SIP server: it relies on SIPp's built-in `uas`
 * answering to the address a call's first message came from and on SIPp's UAC matching by Call-ID.
 *
 *   node bench/signalling/node-forward.ts PORT UAS_PORT [bytes|parse|redis URL]
 *
 * Like a B2BUA it has a caller-side socket (PORT) and a callee-side socket (an ephemeral port).
 * Every datagram from the caller goes out of the callee-side socket to the UAS; every datagram from
 * the UAS goes back to the caller's last address. Modes:
 * - `bytes`: datagrams forwarded as they are (Node's dgram receive + send, nothing else);
 * - `parse`: each message parsed with lib/sip and serialized again after a change (Max-Forwards
 *   decremented on requests, a Server header added to responses), so the serializer really runs;
 * - `redis URL`: `parse`, plus one Redis round trip (ioredis SET with a TTL) per INVITE and one (DEL)
 *   per BYE before forwarding: the least dialog state can cost (kube-sbc makes 3 round trips per call).
 */
import { createSocket, type RemoteInfo } from 'node:dgram'
import { Redis } from 'ioredis'
import { SipRequest, type SipResponse } from '../../lib/sip/message/message.ts'
import { parse } from '../../lib/sip/message/parse.ts'
import { serialize } from '../../lib/sip/message/serialize.ts'

const [portArg, uasPortArg, mode = 'bytes', redisUrl] = process.argv.slice(2)
const port = Number(portArg)
const uasPort = Number(uasPortArg)
if (!Number.isInteger(port) || !Number.isInteger(uasPort) || !['bytes', 'parse', 'redis'].includes(mode)) {
  process.stderr.write('usage: node bench/signalling/node-forward.ts PORT UAS_PORT [bytes|parse|redis URL]\n')
  process.exit(2)
}
if (mode === 'redis' && !redisUrl) {
  process.stderr.write('node-forward: mode redis needs a Redis URL\n')
  process.exit(2)
}

const caller = createSocket('udp4')
const callee = createSocket('udp4')
const redis = mode === 'redis' ? new Redis(redisUrl as string) : undefined
let callerPort = 0
let callerAddress = '127.0.0.1'

/** The message changed a little so that `serialize` builds it anew (an unmodified one is copied). */
function edit(buf: Buffer): SipRequest | SipResponse {
  const msg = parse(buf)
  if (msg instanceof SipRequest) msg.setHeader('Max-Forwards', String((msg.maxForwards ?? 70) - 1))
  else msg.addHeader('Server', 'node-forward')
  return msg
}

function toCallee(buf: Buffer): void {
  callee.send(buf, uasPort, '127.0.0.1')
}

caller.on('message', (buf: Buffer, from: RemoteInfo) => {
  callerPort = from.port
  callerAddress = from.address
  if (mode === 'bytes') return toCallee(buf)
  const msg = edit(buf)
  const out = serialize(msg)
  if (redis === undefined || !(msg instanceof SipRequest)) return toCallee(out)
  const key = `nf:${msg.callId ?? ''}`
  if (msg.method === 'INVITE') redis.set(key, '1', 'EX', 60).then(() => toCallee(out), fail)
  else if (msg.method === 'BYE') redis.del(key).then(() => toCallee(out), fail)
  else toCallee(out)
})
callee.on('message', (buf: Buffer) => {
  caller.send(mode === 'bytes' ? buf : serialize(edit(buf)), callerPort, callerAddress)
})

function fail(err: Error): void {
  process.stderr.write(`node-forward: ${err.message}\n`)
}

caller.bind(port, '127.0.0.1')
callee.bind(0, '127.0.0.1')
process.on('SIGTERM', () => {
  caller.close()
  callee.close()
  redis?.disconnect()
})
