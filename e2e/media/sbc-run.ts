import { createSocket, type Socket } from 'node:dgram'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type StartedProcess, startProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { root } from '../b2bua/harness.ts'

/**
 * `kube-sbc run` with media anchoring for the media e2e tests: a "pbx" group (the caller side, IP
 * profile `pbx`) and a "carrier" group (IP profile `carrier`), each on its own SipInterface and its
 * own MediaRealm on 127.0.0.1, calls routed both ways.
 */
export interface MediaSbcOptions {
  /** Where the pbx and the carrier peers listen (their proxy sets; classification by address:port). */
  pbxPeerPort: number
  carrierPeerPort: number
  /** Port ranges of the two realms. */
  pbxRange: { min: number; max: number }
  carrierRange: { min: number; max: number }
  /** SRTP mode of the carrier's profile (default Mandatory); the pbx's is Optional. */
  carrierSrtp?: 'Mandatory' | 'Optional' | 'Off'
  /** symmetricRtp of the pbx profile (default true). */
  pbxSymmetric?: boolean
  redis?: string
  extra?: string[]
  /** More environment for the process (e.g. an LD_PRELOAD stand-in). */
  env?: Record<string, string>
}

export function mediaSbcYaml(sip: { pbx: number; carrier: number }, o: MediaSbcOptions): string {
  return `apiVersion: sbc.kubesbc.io/v1alpha1
kind: SessionBorderController
metadata: { name: media-e2e, namespace: default }
spec:
  security: { unclassified: Reject }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: MediaRealm
metadata: { name: pbx-media, namespace: default }
spec: { network: LAN, bindAddress: 127.0.0.1, portRange: { min: ${o.pbxRange.min}, max: ${o.pbxRange.max} }, maxSessions: 2000 }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: MediaRealm
metadata: { name: carrier-media, namespace: default }
spec: { network: LAN, bindAddress: 127.0.0.1, portRange: { min: ${o.carrierRange.min}, max: ${o.carrierRange.max} }, maxSessions: 2000 }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: SipInterface
metadata: { name: pbx-side, namespace: default }
spec:
  network: LAN
  bindAddress: 127.0.0.1
  listeners: [{ transport: UDP, port: ${sip.pbx} }]
  mediaRealmRef: { name: pbx-media }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: SipInterface
metadata: { name: carrier-side, namespace: default }
spec:
  network: LAN
  bindAddress: 127.0.0.1
  listeners: [{ transport: UDP, port: ${sip.carrier} }]
  mediaRealmRef: { name: carrier-media }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPProfile
metadata: { name: pbx, namespace: default }
spec:
  media:
    srtp: { mode: Optional }
    symmetricRtp: ${o.pbxSymmetric ?? true}
    codecs: [{ name: PCMA }, { name: PCMU }]
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPProfile
metadata: { name: carrier, namespace: default }
spec:
  media:
    srtp: { mode: ${o.carrierSrtp ?? 'Mandatory'}${o.carrierSrtp === 'Off' ? '' : ', cryptoSuites: [AES_CM_128_HMAC_SHA1_80]'} }
    codecs: [{ name: PCMA }, { name: PCMU }]
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPGroup
metadata: { name: pbx, namespace: default }
spec:
  sipInterfaceRef: { name: pbx-side }
  ipProfileRef: { name: pbx }
  proxySet: { proxies: [{ address: 127.0.0.1, port: ${o.pbxPeerPort}, transport: UDP }] }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPGroup
metadata: { name: carrier, namespace: default }
spec:
  sipInterfaceRef: { name: carrier-side }
  ipProfileRef: { name: carrier }
  proxySet: { proxies: [{ address: 127.0.0.1, port: ${o.carrierPeerPort}, transport: UDP }] }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: RoutingRule
metadata: { name: pbx-to-carrier, namespace: default }
spec:
  order: 20
  match: { sourceIPGroups: [pbx] }
  action: { route: { targets: [{ ipGroup: carrier }] } }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: RoutingRule
metadata: { name: carrier-to-pbx, namespace: default }
spec:
  order: 30
  match: { sourceIPGroups: [carrier] }
  action: { route: { targets: [{ ipGroup: pbx }] } }
`
}

export interface MediaSbc {
  proc: StartedProcess
  /** SIP ports of the two interfaces and the HTTP port. */
  pbx: number
  carrier: number
  http: number
  close(): Promise<void>
}

/** Starts `kube-sbc run` on a config from {@link mediaSbcYaml}; resolves once media and SIP are up. */
export async function startMediaSbc(o: MediaSbcOptions): Promise<MediaSbc> {
  const sip = { pbx: await freePort(), carrier: await freePort() }
  const http = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'sbc-media-'))
  await writeFile(join(dir, 'sbc.yaml'), mediaSbcYaml(sip, o))
  const proc = startProcess(
    join(root, 'bin', 'kube-sbc'),
    [
      'run',
      '-f',
      dir,
      '--http-port',
      String(http),
      '--drain-seconds',
      '2',
      ...(o.redis ? ['--redis', o.redis] : []),
      ...(o.extra ?? []),
    ],
    { env: { ...process.env, POD_NAME: `media-e2e-${sip.pbx}`, ...o.env } },
  )
  // Generous: six test suites may share the machine's cores.
  await proc.waitForOutput(/Started signalling/, 60_000)
  return {
    proc,
    ...sip,
    http,
    async close() {
      await proc.stop(5000)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** Polls `f` until it returns true (every 100 ms, at most `timeoutMs`); throws with `what` otherwise. */
export async function eventually(f: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await f())) {
    if (Date.now() > until) throw new Error(`not true within ${timeoutMs} ms: ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/**
 * The base of a media port range of `size` ports (even) that nothing on this machine holds right now:
 * between 10,000 and 20,000, below the kernel's ephemeral range (32768+, client sockets of SIPp, NG
 * clients, other tests) and below the ports freePort and portBase hand out (20,000+: a port handed
 * out there is bound a moment later, which probing here cannot see), and probed by binding every port of the range once (long-running neighbours, e.g. an rtpengine of a
 * benchmark, hold blocks of ports; a port taken by another process makes the media pod refuse offers).
 * `apart`: bases of ranges of the same size chosen before but not bound yet (several media pods of one
 * test), which the new range must not overlap: probing cannot see them, and two pods with overlapping
 * ranges make "which pod holds this port" ambiguous (three random 200-port ranges overlap in ~5 % of runs).
 */
export async function mediaPortBase(size: number, apart: readonly number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const base = 10_000 + 2 * Math.floor(Math.random() * ((10_000 - size) / 2))
    if (apart.some((b) => base < b + size && b < base + size)) continue
    if (await allFree(base, size)) return base
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`no free range of ${size} UDP ports on 127.0.0.1 below 20000`)
}

async function allFree(base: number, size: number): Promise<boolean> {
  const sockets: Socket[] = []
  try {
    for (let p = base; p < base + size; p++) {
      const s = createSocket('udp4')
      sockets.push(s)
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject)
        s.bind(p, '127.0.0.1', () => resolve())
      })
    }
    return true
  } catch {
    return false
  } finally {
    for (const s of sockets) s.close()
  }
}
