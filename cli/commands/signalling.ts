import type { SbcConfig } from '../../lib/config/model.ts'
import { parseConfig } from '../../lib/config/validate.ts'
import { type ConfigSource, clusterSource, fileSource } from '../../signalling-pod/src/config-sources.ts'
import { runSignallingProcess } from '../../signalling-pod/src/main.ts'
import type { Command } from '../command.ts'
import { UsageError } from '../errors.ts'
import { readInputFile } from '../load-objects.ts'
import { COMMON_FLAGS_USAGE, parseProcessFlags } from './signalling-flags.ts'

const USAGE = `usage: kube-sbc signalling (--sbc NAME [--namespace NS] [--kubeconfig PATH] | --config FILE) [flags]

Runs one signalling pod process. With --sbc it follows the operator's snapshot (ConfigMap
<sbc>-config) through the API and acknowledges each applied generation in the Lease <POD_NAME>;
with --config it runs an SbcConfig JSON snapshot file, reloaded on SIGHUP or when it changes.
Redis comes from the snapshot's redis section (password from /etc/kube-sbc/secrets) unless
--redis is given. docs/signalling-config.md.

  --sbc NAME            the SessionBorderController to follow
  --namespace NS        its namespace (default: POD_NAMESPACE)
  --kubeconfig PATH     default: KUBECONFIG, ~/.kube/config, then in-cluster
  --config FILE         an SbcConfig snapshot file instead
  --no-media            no media anchoring: SDP passes through unchanged (default: calls are
                        anchored on the media pods registered in the store, docs/b2bua.md)
  --ng-secret-file FILE shared secret (kube-sbc-secret) when the media pods require one
${COMMON_FLAGS_USAGE}`

function readSnapshot(file: string): SbcConfig {
  return parseConfig(readInputFile(file))
}

/** `kube-sbc signalling`. */
export const signallingCommand: Command = {
  name: 'signalling',
  summary: 'run one signalling pod process (from the cluster or an SbcConfig file)',
  usage: USAGE,
  async run(args, io) {
    const { flags, values } = parseProcessFlags(args, {
      config: { type: 'string' },
      sbc: { type: 'string' },
      namespace: { type: 'string' },
      kubeconfig: { type: 'string' },
      'no-media': { type: 'boolean' },
      'ng-secret-file': { type: 'string' },
    })
    if (flags.help) {
      io.stdout(`${USAGE}\n`)
      return 0
    }
    const file = values.config as string | undefined
    const sbc = values.sbc as string | undefined
    if ((file === undefined) === (sbc === undefined))
      throw new UsageError('signalling needs exactly one of --sbc NAME or --config FILE')
    const secretFile = values['ng-secret-file'] as string | undefined
    const ngSecret = () => (secretFile !== undefined ? { ngSecret: readInputFile(secretFile).trim() } : {})
    let source: ConfigSource
    if (sbc !== undefined) {
      const namespace = (values.namespace as string | undefined) ?? process.env.POD_NAMESPACE
      if (!namespace) throw new UsageError('signalling --sbc needs --namespace or POD_NAMESPACE')
      const podName = process.env.POD_NAME
      if (!podName) throw new UsageError('signalling --sbc needs POD_NAME (the ack Lease is named after it)')
      const kubeconfig = values.kubeconfig as string | undefined
      source = clusterSource({
        sbc,
        namespace,
        podName,
        ...(process.env.POD_UID ? { podUid: process.env.POD_UID } : {}),
        ...(kubeconfig !== undefined ? { kubeconfig } : {}),
      })
    } else {
      const path = file as string
      readSnapshot(path) // a usage problem at start is an input error, not a failed reload
      source = fileSource([path], () => readSnapshot(path))
    }
    return runSignallingProcess({
      source,
      redisFromConfig: true,
      ...(flags.redis !== undefined ? { redisUrl: flags.redis } : {}),
      httpPort: flags.httpPort,
      ...(flags.logLevel !== undefined ? { logLevel: flags.logLevel } : {}),
      logPretty: flags.logPretty,
      drainSeconds: flags.drainSeconds,
      media: values['no-media'] === true ? { kind: 'off' } : { kind: 'registry', ...ngSecret() },
    })
  },
}
