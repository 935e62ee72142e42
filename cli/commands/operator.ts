import { parseArgs } from 'node:util'
import { runOperator } from '../../operator/src/main.ts'
import type { Command } from '../command.ts'
import { UsageError } from '../errors.ts'

const usage = `usage: kube-sbc operator [--leader-elect] [--http-port 8080] [--kubeconfig PATH] [--namespace NS]
                         [--image REF] [--leader-elect-lease-duration SECONDS] [--log-level L] [--log-pretty]

Reconciles SessionBorderControllers and their objects into the published config and workloads.
  --leader-elect      campaign for Lease kube-sbc-operator; only the leader reconciles
  --http-port         /metrics, /healthz, /readyz (default 8080)
  --kubeconfig        default: KUBECONFIG, ~/.kube/config, then in-cluster
  --namespace         namespace of the leader Lease (default: POD_NAMESPACE or the pod's)
  --image             image of the signalling and media pods (default: KUBE_SBC_IMAGE or this version)`

/** `kube-sbc operator`: the operator process (operator/src/main.ts). */
export const operatorCommand: Command = {
  name: 'operator',
  summary: 'run the operator (config and workload controllers)',
  usage,
  async run(args) {
    let v: ReturnType<typeof parse>
    try {
      v = parse(args)
    } catch (e) {
      throw new UsageError(e instanceof Error ? e.message : String(e))
    }
    if (v.help) {
      process.stdout.write(`${usage}\n`)
      return 0
    }
    const port = Number(v['http-port'] ?? '8080')
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError('--http-port must be a port number')
    const lease = v['leader-elect-lease-duration']
    const leaseSeconds = lease === undefined ? undefined : Number(lease)
    if (leaseSeconds !== undefined && !(Number.isInteger(leaseSeconds) && leaseSeconds >= 2))
      throw new UsageError('--leader-elect-lease-duration must be whole seconds >= 2')
    return runOperator({
      leaderElect: v['leader-elect'] ?? false,
      httpPort: port,
      kubeconfig: v.kubeconfig,
      namespace: v.namespace,
      image: v.image,
      leaseDurationSeconds: leaseSeconds,
      logLevel: v['log-level'],
      logPretty: v['log-pretty'],
    })
  },
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    options: {
      'leader-elect': { type: 'boolean' },
      'http-port': { type: 'string' },
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      image: { type: 'string' },
      'leader-elect-lease-duration': { type: 'string' },
      'log-level': { type: 'string' },
      'log-pretty': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  }).values
}
