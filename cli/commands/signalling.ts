import { readFileSync } from 'node:fs'
import { parseConfig } from '../../lib/config/validate.ts'
import { runSignallingProcess } from '../../signalling-pod/src/main.ts'
import type { Command } from '../command.ts'
import { InputError, UsageError } from '../errors.ts'
import { COMMON_FLAGS_USAGE, parseProcessFlags } from './signalling-flags.ts'

const USAGE = `usage: kube-sbc signalling --config FILE [flags]

Runs one signalling pod process from an SbcConfig JSON snapshot (the operator's ConfigMap key
config.json). In a cluster, state is shared through --redis.

  --config FILE         the SbcConfig snapshot
${COMMON_FLAGS_USAGE}`

/** `kube-sbc signalling`. */
export const signallingCommand: Command = {
  name: 'signalling',
  summary: 'run one signalling pod process from an SbcConfig snapshot',
  usage: USAGE,
  async run(args, io) {
    const { flags, values } = parseProcessFlags(args, { config: { type: 'string' } })
    if (flags.help) {
      io.stdout(`${USAGE}\n`)
      return 0
    }
    const file = values.config as string | undefined
    if (file === undefined) throw new UsageError('signalling needs --config FILE')
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (e) {
      throw new InputError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`)
    }
    return runSignallingProcess({
      config: parseConfig(text),
      ...(flags.redis !== undefined ? { redisUrl: flags.redis } : {}),
      httpPort: flags.httpPort,
      ...(flags.logLevel !== undefined ? { logLevel: flags.logLevel } : {}),
      logPretty: flags.logPretty,
      drainSeconds: flags.drainSeconds,
    })
  },
}
