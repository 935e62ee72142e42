import { createSocket, type Socket } from 'node:dgram'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SbcConfig } from '../../lib/config/model.ts'
import { NgClient } from '../../lib/media/control/ng-client.ts'
import { buildMediaAddon } from '../../media-pod/native/build.ts'
import { type StartedProcess, startProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'

/** A minimal SbcConfig with media realms only (what a media pod reads). */
export function mediaConfig(
  realms: { name: string; min: number; max: number; maxSessions?: number; advertised?: string }[],
  generation = 1,
): SbcConfig {
  return {
    schemaVersion: 1,
    generation,
    namespace: 'lab',
    controller: null,
    redis: { mode: 'memory', url: null, sentinel: null, password: null },
    nat: null,
    security: { maliciousSignatures: [], rateLimit: null, unclassified: 'Allow' },
    realms: realms.map((r) => ({
      name: r.name,
      network: 'LAN' as const,
      bindAddress: '127.0.0.1',
      portRange: { min: r.min, max: r.max },
      advertisedAddress: r.advertised ?? null,
      maxSessions: r.maxSessions ?? 1000,
    })),
    interfaces: [],
    profiles: [],
    groups: [],
    routes: [],
  }
}

export { portBase } from '../../test/harness/port-base.ts'

export interface MediaProcess {
  proc: StartedProcess
  ng: NgClient
  ngPort: number
  httpPort: number
  stop(): Promise<void>
}

/** Starts `kube-sbc media` as a child process and an NG client toward it. */
export async function startMedia(
  config: SbcConfig,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<MediaProcess> {
  // The child loads media-pod/native's build: rebuilt here when a checkout changed the C since (a
  // stale addon lacks the newer calls, e.g. relaySetPtMap); a no-op (a few stat calls) otherwise.
  buildMediaAddon()
  const file = join(tmpdir(), `kube-sbc-media-${process.pid}-${Date.now()}-${Math.random()}.json`)
  writeFileSync(file, JSON.stringify(config))
  const ngPort = await freePort()
  const httpPort = await freePort()
  const proc = startProcess(
    process.execPath,
    [
      'cli/main.ts',
      'media',
      '--config',
      file,
      '--ng-port',
      String(ngPort),
      '--http-port',
      String(httpPort),
      '--drain-seconds',
      '1',
      ...extra,
    ],
    { env: { ...process.env, ...env } },
  )
  await proc.waitForOutput(/Media pod started/, 15_000)
  const ng = await NgClient.connect({ host: '127.0.0.1', port: ngPort, retransmitMs: 200 })
  return {
    proc,
    ng,
    ngPort,
    httpPort,
    async stop() {
      await ng.close()
      await proc.stop()
    },
  }
}

/** A UDP socket on 127.0.0.1 that records what it receives. */
export class Peer {
  readonly socket: Socket
  readonly received: { msg: Buffer; from: { address: string; port: number } }[] = []
  port = 0
  private constructor(socket: Socket) {
    this.socket = socket
    socket.on('message', (msg, r) => this.received.push({ msg, from: { address: r.address, port: r.port } }))
  }
  static async open(): Promise<Peer> {
    const s = createSocket('udp4')
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))
    const p = new Peer(s)
    p.port = s.address().port
    return p
  }
  send(msg: Buffer, port: number, address = '127.0.0.1'): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.send(msg, port, address, (e) => (e ? reject(e) : resolve())),
    )
  }
  async waitFor(n: number, timeoutMs = 3000): Promise<void> {
    const until = Date.now() + timeoutMs
    while (this.received.length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    if (this.received.length < n) throw new Error(`received ${this.received.length} of ${n} packets`)
  }
  close(): void {
    this.socket.close()
  }
}

/** An RTP packet (version 2) with a recognisable payload. */
export function rtpPacket(seq: number, pt = 0, ssrc = 0x1234_5678, payload?: Buffer): Buffer {
  const h = Buffer.alloc(12)
  h[0] = 0x80
  h[1] = pt & 0x7f
  h.writeUInt16BE(seq & 0xffff, 2)
  h.writeUInt32BE((seq * 160) >>> 0, 4)
  h.writeUInt32BE(ssrc >>> 0, 8)
  return Buffer.concat([h, payload ?? Buffer.from(`payload-${seq}`.padEnd(160, '.'))])
}

/** An audio SDP offering/answering at `port`. */
export function audioSdp(
  port: number,
  opts: { proto?: string; crypto?: string[]; codecs?: string; extra?: string[]; address?: string } = {},
): string {
  const address = opts.address ?? '127.0.0.1'
  const codecs = opts.codecs ?? '0 8 101'
  return [
    'v=0',
    `o=peer 1000 1 IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${port} ${opts.proto ?? 'RTP/AVP'} ${codecs}`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    ...(codecs.includes('101') ? ['a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16'] : []),
    ...(codecs.includes('96') ? ['a=rtpmap:96 telephone-event/8000'] : []),
    ...(opts.crypto ?? []).map((c) => `a=crypto:${c}`),
    ...(opts.extra ?? []),
    'a=sendrecv',
    '',
  ].join('\r\n')
}

/** The c= address and m= port of the first media section of an SDP. */
export function endpointOf(sdp: string): { address: string; port: number } {
  const address = /c=IN IP4 (\S+)/.exec(sdp)?.[1] ?? ''
  const port = Number(/m=audio (\d+)/.exec(sdp)?.[1])
  return { address, port }
}

/** Reads a metric's value from /metrics text (sum over matching series). */
export async function metric(httpPort: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (labels && !line.includes(labels)) continue
    sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}
