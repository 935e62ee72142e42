import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type StartedProcess, startProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { type SippResult, startSipp } from '../../test/harness/sipp.ts'

const here = dirname(fileURLToPath(import.meta.url))
export const root = join(here, '..', '..')

/** Ports of one SBC process: where the caller's side and the callee's side listen. */
export interface SbcPorts {
  pbx: number
  carrier: number
  http: number
}

export async function sbcPorts(): Promise<SbcPorts> {
  return { pbx: await freePort(), carrier: await freePort(), http: await freePort() }
}

/**
 * CRs for one SBC process on loopback: the caller (SIPp UAC on `uacPort`) is IP group `pbx` on
 * interface `pbx-side`, the callee (SIPp UAS on `uasPort`) is `carrier` on `carrier-side`.
 */
export interface ConfigOptions {
  /** maxConcurrentCalls of the callee's group (default 20). */
  maxCalls?: number
  /** YAML documents appended to the config (extra groups, rules). */
  append?: string
}

/**
 * A second callee group `carrier2` on `carrier-side` (a YAML document for `ConfigOptions.append`),
 * its one proxy at `address` (127.0.0.1 by default; a host name with `resolution: 'A'`) over UDP.
 */
export function carrier2Yaml(
  port: number,
  o: { address?: string; resolution?: 'A'; maxConcurrentCalls?: number } = {},
): string {
  const proxy = `address: ${o.address ?? '127.0.0.1'}, port: ${port}, transport: UDP${o.resolution ? `, resolution: ${o.resolution}` : ''}`
  return `---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPGroup
metadata: { name: carrier2, namespace: default }
spec:
  sipInterfaceRef: { name: carrier-side }
  ipProfileRef: { name: default }
  proxySet: { proxies: [{ ${proxy} }] }
${o.maxConcurrentCalls === undefined ? '' : `  maxConcurrentCalls: ${o.maxConcurrentCalls}\n`}`
}

export function configYaml(
  p: SbcPorts,
  uacPort: number,
  uasPort: number,
  transport: 'UDP' | 'TCP',
  o: ConfigOptions = {},
): string {
  return `apiVersion: sbc.kubesbc.io/v1alpha1
kind: SessionBorderController
metadata: { name: test, namespace: default }
spec:
  security:
    maliciousSignatures:
      - { name: friendly-scanner, match: { prefix: friendly-scanner } }
      - { name: sipsak, match: { prefix: sipsak } }
    unclassified: Reject
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: MediaRealm
metadata: { name: media, namespace: default }
spec: { network: LAN, bindAddress: 127.0.0.1, portRange: { min: 40000, max: 40099 }, maxSessions: 50 }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: SipInterface
metadata: { name: pbx-side, namespace: default }
spec:
  network: LAN
  bindAddress: 127.0.0.1
  listeners: [{ transport: UDP, port: ${p.pbx} }, { transport: TCP, port: ${p.pbx} }]
  mediaRealmRef: { name: media }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: SipInterface
metadata: { name: carrier-side, namespace: default }
spec:
  network: LAN
  bindAddress: 127.0.0.1
  listeners: [{ transport: UDP, port: ${p.carrier} }, { transport: TCP, port: ${p.carrier} }]
  mediaRealmRef: { name: media }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPProfile
metadata: { name: default, namespace: default }
spec: { media: { srtp: { mode: Optional }, codecs: [{ name: PCMU }] } }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPGroup
metadata: { name: pbx, namespace: default }
spec:
  sipInterfaceRef: { name: pbx-side }
  ipProfileRef: { name: default }
  proxySet: { proxies: [{ address: 127.0.0.1, port: ${uacPort}, transport: ${transport} }] }
---
apiVersion: sbc.kubesbc.io/v1alpha1
kind: IPGroup
metadata: { name: carrier, namespace: default }
spec:
  sipInterfaceRef: { name: carrier-side }
  ipProfileRef: { name: default }
  proxySet: { proxies: [{ address: 127.0.0.1, port: ${uasPort}, transport: ${transport} }] }
  maxConcurrentCalls: ${o.maxCalls ?? 20}
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
${o.append ?? ''}`
}

/** A `kube-sbc run` child process with its config folder. */
export interface Sbc {
  readonly proc: StartedProcess
  readonly ports: SbcPorts
  /** The config folder (`sbc.yaml`), for tests that change it under `--watch`. */
  readonly dir: string
  close(): Promise<void>
}

export async function startSbc(
  ports: SbcPorts,
  uacPort: number,
  uasPort: number,
  options: {
    transport?: 'UDP' | 'TCP'
    redis?: string
    extra?: string[]
    config?: ConfigOptions
    /** The whole config instead of {@link configYaml}'s (TLS and DNS tests). */
    yaml?: string
    env?: Record<string, string>
    /** Anchor media (off by default: these tests are about signalling and check SDP passed through;
     * e2e/media covers anchoring). */
    media?: boolean
  } = {},
): Promise<Sbc> {
  const dir = await mkdtemp(join(tmpdir(), 'sbc-b2bua-'))
  await writeFile(
    join(dir, 'sbc.yaml'),
    options.yaml ?? configYaml(ports, uacPort, uasPort, options.transport ?? 'UDP', options.config),
  )
  const args = [
    'run',
    '-f',
    dir,
    '--http-port',
    String(ports.http),
    ...(options.redis ? ['--redis', options.redis] : []),
    ...(options.extra ?? []),
  ]
  if (!options.media && !args.includes('--no-media')) args.push('--no-media')
  const proc = startProcess(join(root, 'bin', 'kube-sbc'), args, {
    env: { ...process.env, POD_NAME: `sbc-${ports.pbx}`, ...options.env },
  })
  await proc.waitForOutput(/Started signalling/, 20_000)
  return {
    proc,
    ports,
    dir,
    async close() {
      await proc.stop(3000)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** Renders a scenario template from `scenarios/` with `@KEY@` placeholders into a temp file. */
export async function scenario(name: string, vars: Record<string, string> = {}): Promise<string> {
  let text = await readFile(join(here, 'scenarios', name), 'latin1')
  const defaults: Record<string, string> = {
    PAUSE: '0',
    SETDEST: '',
    UAS_MOVE: '',
    AFTER_ACK: '',
    REINVITE_START: '<!--',
    REINVITE_END: '-->',
    HANGUP_START: '<!--',
    HANGUP_END: '-->',
    PROVISIONAL: RINGING,
    MF: '70',
    CHECK: '',
  }
  for (const [k, v] of Object.entries({ ...defaults, ...vars })) text = text.replaceAll(`@${k}@`, v)
  const dir = await mkdtemp(join(tmpdir(), 'sbc-scn-'))
  const file = join(dir, name)
  await writeFile(file, text, 'latin1')
  return file
}

/**
 * For uas-answer.xml's AFTER_ACK: the callee sends its 200 to the INVITE once more after the ACK (same
 * Via, tags and CSeq, as if the ACK had been lost) and expects the SBC to re-send the ACK within 2 s
 * (RFC 3261 §13.2.2.4); without that ACK the scenario fails.
 */
export const RETRANSMIT_2XX = `<send><![CDATA[
      SIP/2.0 200 OK
      Via: [$invvia]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: [$invcseq] INVITE
      Contact: <sip:callee@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=callee 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio 6000 RTP/AVP 0
      a=rtpmap:0 PCMU/8000
  ]]></send>
  <recv request="ACK" timeout="2000" />`

/** SIPp action moving the next messages to another SBC process (UDP). */
export const setdest = (port: number) =>
  `<nop><action><setdest host="127.0.0.1" port="${port}" protocol="udp" /></action></nop>`

const response = (code: string, sdp: boolean) => `<send><![CDATA[
      SIP/2.0 ${code}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:callee@[local_ip]:[local_port];transport=[transport]>
${
  sdp
    ? `      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=callee 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio 6000 RTP/AVP 0
      a=rtpmap:0 PCMU/8000`
    : '      Content-Length: 0'
}
  ]]></send>`

export const RINGING = response('180 Ringing', false)
export const EARLY_MEDIA = response('183 Session Progress', true)

/** The SBC's /metrics text. */
export async function scrape(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
}

/**
 * The value of one series, 0 when absent: `series` is `name{a="x",b="y"}` (or a bare name); a
 * line matches when it has that name and at least those labels (the registry adds default labels).
 */
export function sample(metrics: string, series: string): number {
  const [, name, labels = ''] = /^([^{]+)(?:\{(.*)\})?$/.exec(series) ?? []
  const want = labels === '' ? [] : labels.split(/,(?=[a-z_]+=)/)
  for (const line of metrics.split('\n')) {
    const m = /^([^{ ]+)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = (m[2] ?? '').split(/,(?=[a-z_]+=)/)
    if (want.every((w) => have.includes(w))) return Number(m[3])
  }
  return 0
}

/** CDR lines (JSON with `v` and `legA`) in a process's stdout. */
export function cdrLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{"v":1,'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

/** GET on the SBC's HTTP port. */
export async function http(port: number, path: string): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}${path}`)).status
}

export interface Call {
  uac: Promise<SippResult>
  uas: Promise<SippResult>
}

export async function call(
  sbcPort: number,
  uacPort: number,
  uasPort: number,
  o: { uac: string; uas: string; calls?: number; transport?: 'u1' | 't1'; rate?: number; timeout?: number },
): Promise<Call> {
  const calls = o.calls ?? 1
  const transport = o.transport ?? 'u1'
  const timeoutSeconds = o.timeout ?? 15
  const uas = await startSipp({
    scenario: { file: o.uas },
    transport,
    localPort: uasPort,
    calls,
    timeoutSeconds,
  })
  await new Promise((r) => setTimeout(r, 200))
  const uac = await startSipp({
    scenario: { file: o.uac },
    target: `127.0.0.1:${sbcPort}`,
    transport,
    localPort: uacPort,
    calls,
    rate: o.rate ?? 10,
    timeoutSeconds,
  })
  return { uac: uac.result(), uas: uas.result() }
}

export function ok(r: SippResult, calls: number, who: string): void {
  assert.equal(r.exitCode, 0, `${who} failed:\n${r.output.slice(-3000)}`)
  assert.equal(r.successfulCalls, calls, `${who}: ${r.output.slice(-2000)}`)
  assert.equal(r.failedCalls, 0)
}

export async function both(c: Call, calls: number): Promise<void> {
  const [uac, uas] = await Promise.all([c.uac, c.uas])
  ok(uac, calls, 'UAC')
  ok(uas, calls, 'UAS')
}

/**
 * A dnsmasq answering only from its arguments (`--srv-host=…`, `--host-record=…`) on 127.0.0.1:`port`,
 * for call-time DNS tests (`KUBE_SBC_DNS_SERVERS`). TTL 1 s. Stop it by its PID (`stop()`).
 */
export async function startDnsmasq(port: number, records: readonly string[]): Promise<StartedProcess> {
  const proc = startProcess('dnsmasq', [
    '--no-daemon',
    '--no-resolv',
    '--no-hosts',
    '--conf-file=/dev/null',
    '--pid-file=',
    '--user=',
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '-p',
    String(port),
    '--local-ttl=1',
    ...records,
  ])
  await proc.waitForOutput(/started, version/, 10_000)
  return proc
}
