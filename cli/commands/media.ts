import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { parseConfig } from '../../lib/config/validate.ts'
import { type MediaProcessOptions, runMediaProcess } from '../../media-pod/src/main.ts'
import { DEFAULT_SPILL_PPS } from '../../media-pod/src/relay/native-backend.ts'
import type { Command } from '../command.ts'
import { UsageError } from '../errors.ts'
import { readInputFile } from '../load-objects.ts'
import { COMMON_FLAGS_USAGE, intFlag, parseProcessFlags } from './signalling-flags.ts'

const USAGE = `usage: kube-sbc media (--sbc NAME [--namespace NS] [--kubeconfig PATH] | --config FILE) [flags]

Runs one media pod process: rtpengine's NG protocol on --ng-host:--ng-port, RTP/SRTP relayed in
the config's media realms (docs/media-pod.md).

  --sbc NAME            follow the SessionBorderController's ConfigMap <NAME>-config through the API
                        and acknowledge each generation in Lease POD_NAME (role media)
  --namespace NS        default POD_NAMESPACE
  --kubeconfig PATH     default: KUBECONFIG, ~/.kube/config, then in-cluster
  --config FILE         the SbcConfig snapshot (instead of --sbc)
  --ng-host ADDR        NG control address (default HOST_IP, else 127.0.0.1)
  --ng-port N           NG control UDP port (default 22222)
  --node-address ADDR   address registered and advertised when a realm has none (default HOST_IP, else --ng-host)
  --workers N           native relay threads, 0 = TypeScript relay only (default: one per core)
  --worker-priority N   run the native relay threads SCHED_FIFO at priority N (1-99; needs CAP_SYS_NICE,
                        else a warning and normal scheduling); 0 = normal scheduling (default)
  --worker-spill-pps N  packets/s one relay thread carries before calls spill onto the next and move
                        back when the load falls (default 15000); 0 = every thread takes calls in turn
  --media-timeout N     seconds without packets before a stream is reported timed out (default 60, 0 = off)
  --hold-timeout N      instead, for a media section on hold (sendonly/recvonly/inactive/c=0.0.0.0),
                        counted from its last packet or signal (default 3600, 0 = off; rtpengine's --silent-timeout)
  --port-quarantine-ms N  how long a released port stays out of circulation (default 5000)
  --heartbeat-ms N      registry heartbeat period; the pod counts as lost 3 periods after its last
                        heartbeat, and signalling then re-anchors its calls (default 5000)
  --ng-secret-file FILE optional shared secret (kube-sbc-secret) for NG requests
${COMMON_FLAGS_USAGE}`

/** `kube-sbc media`. */
export const mediaCommand: Command = {
  name: 'media',
  summary: 'run one media pod process (NG protocol, RTP/SRTP relay)',
  usage: USAGE,
  async run(args, io) {
    const { flags, values } = parseProcessFlags(args, {
      config: { type: 'string' },
      sbc: { type: 'string' },
      namespace: { type: 'string' },
      kubeconfig: { type: 'string' },
      'ng-host': { type: 'string' },
      'ng-port': { type: 'string' },
      'node-address': { type: 'string' },
      workers: { type: 'string' },
      'worker-priority': { type: 'string' },
      'worker-spill-pps': { type: 'string' },
      'media-timeout': { type: 'string' },
      'hold-timeout': { type: 'string' },
      'ng-secret-file': { type: 'string' },
      'port-quarantine-ms': { type: 'string' },
      'heartbeat-ms': { type: 'string' },
    })
    if (flags.help) {
      io.stdout(`${USAGE}\n`)
      return 0
    }
    const file = values.config as string | undefined
    const sbc = values.sbc as string | undefined
    if ((file === undefined) === (sbc === undefined))
      throw new UsageError('media needs exactly one of --sbc NAME or --config FILE')
    const int = (name: string, def: number, min: number, max: number) => intFlag(values, name, def, min, max)
    // Contract: NG on HOST_IP:22222, not on all addresses.
    const ngHost = (values['ng-host'] as string | undefined) ?? process.env.HOST_IP ?? '127.0.0.1'
    const nodeAddress = (values['node-address'] as string | undefined) ?? process.env.HOST_IP ?? ngHost
    for (const [k, v] of [
      ['ng-host', ngHost],
      ['node-address', nodeAddress],
    ] as const)
      if (!isIP(v)) throw new UsageError(`--${k} must be an IP address`)
    const read = readInputFile
    const secretFile = values['ng-secret-file'] as string | undefined
    let source: Pick<MediaProcessOptions, 'config' | 'cluster'>
    if (sbc !== undefined) {
      const namespace = (values.namespace as string | undefined) ?? process.env.POD_NAMESPACE
      if (!namespace) throw new UsageError('media --sbc needs --namespace or POD_NAMESPACE')
      const podName = process.env.POD_NAME
      if (!podName) throw new UsageError('media --sbc needs POD_NAME (the ack Lease is named after it)')
      const kubeconfig = values.kubeconfig as string | undefined
      source = {
        cluster: {
          sbc,
          namespace,
          podName,
          ...(process.env.POD_UID ? { podUid: process.env.POD_UID } : {}),
          ...(kubeconfig !== undefined ? { kubeconfig } : {}),
        },
      }
    } else source = { config: parseConfig(read(file as string)) }
    return runMediaProcess({
      ...source,
      ...(flags.redis !== undefined ? { redisUrl: flags.redis } : {}),
      ngHost,
      ngPort: int('ng-port', 22222, 0, 65535),
      httpPort: flags.httpPort,
      nodeAddress,
      // A media pod owns its node's packet path (host network, dedicated nodes): one relay thread per
      // core, each owning its own sockets; calls use as many as the load needs (docs/media-pod.md).
      workers: int('workers', Math.min(64, availableParallelism()), 0, 64),
      workerPriority: int('worker-priority', 0, 0, 99),
      workerSpillPps: int('worker-spill-pps', DEFAULT_SPILL_PPS, 0, 10_000_000),
      mediaTimeoutSeconds: int('media-timeout', 60, 0, 86400),
      holdTimeoutSeconds: int('hold-timeout', 3600, 0, 86400),
      drainSeconds: flags.drainSeconds,
      portQuarantineMs: int('port-quarantine-ms', 5000, 0, 600_000),
      heartbeatMs: int('heartbeat-ms', 5000, 100, 60_000),
      ...(secretFile !== undefined ? { ngSecret: read(secretFile).trim() } : {}),
      ...(flags.logLevel !== undefined ? { logLevel: flags.logLevel } : {}),
      logPretty: flags.logPretty,
    })
  },
}
