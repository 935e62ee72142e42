import { compile } from '../../lib/config/compile/compile.ts'
import type { SbcConfig } from '../../lib/config/model.ts'
import { validateConfig } from '../../lib/config/validate.ts'
import { fileSource, staticSource } from '../../signalling-pod/src/config-sources.ts'
import { runSignallingProcess } from '../../signalling-pod/src/main.ts'
import { objectSecretResolver } from '../../signalling-pod/src/secrets/secret-resolver.ts'
import type { Command } from '../command.ts'
import { InputError, UsageError } from '../errors.ts'
import { listYamlFiles, loadObjects } from '../load-objects.ts'
import { COMMON_FLAGS_USAGE, intFlag, parseProcessFlags } from './signalling-flags.ts'

const USAGE = `usage: kube-sbc run -f PATH... [--watch] [flags]

Runs the SBC standalone from custom resources (files, or folders searched for *.yaml/*.yml): the
signalling B2BUA on every SipInterface listener and, in the same process, a media pod relaying
RTP/SRTP on the MediaRealms (each realm's bindAddress and portRange). docs/b2bua.md, "Media
anchoring"; docs/media-pod.md, "In kube-sbc run".

  -f, --filename PATH   a file or folder (repeatable)
  --watch               recompile and apply when a file changes (or on SIGHUP); an invalid
                        change is logged and the running config stays
  --no-media            no media anchoring: SDP passes through unchanged
  --media-timeout N     seconds without RTP before an answered call is ended (default 60, 0 = never)
  --hold-timeout N      instead, for a media section on hold (sendonly/recvonly/inactive/c=0.0.0.0),
                        counted from its last packet or signal (default 3600, 0 = never)
  --media-workers N     native relay threads, 0 = TypeScript relay only (default 1)
${COMMON_FLAGS_USAGE}`

/** The `v1/Secret` objects of the last compiled input: TLS material of the SipInterfaces. */
let inputSecrets = objectSecretResolver([])
/** The input's `v1/Secret` objects as JSON, to tell when they changed. */
let inputSecretsJson: string | undefined
/** Told when the input's Secrets changed (the signalling process reads its TLS material again). */
let onSecretsChange: (() => void) | undefined

/** Compiles the CRs under `paths` into generation `generation`; throws InputError on any error. */
function compileFiles(paths: readonly string[], generation: number): SbcConfig {
  const { objects, problems } = loadObjects(listYamlFiles(paths))
  if (problems.length > 0) {
    const p = problems[0]!
    throw new InputError(`${p.file}:${p.line}:${p.column}: ${p.message}`)
  }
  inputSecrets = objectSecretResolver(objects.map((o) => o.object))
  // A renewed certificate changes a Secret and no compiled config: the file source then applies
  // nothing, so the process is told directly (after this load returns).
  const json = JSON.stringify(
    objects.map((o) => o.object).filter((o) => (o as { kind?: unknown }).kind === 'Secret'),
  )
  if (inputSecretsJson !== undefined && json !== inputSecretsJson) setImmediate(() => onSecretsChange?.())
  inputSecretsJson = json
  const { config, verdicts } = compile(
    objects.map((o) => o.object),
    { generation },
  )
  const errors = verdicts.flatMap((v) =>
    v.findings
      .filter((f) => f.severity === 'error')
      .map((f) => `${v.kind} ${v.namespace}/${v.name}: ${f.message}`),
  )
  if (errors.length > 0) throw new InputError(`invalid configuration (${errors.length} errors): ${errors[0]}`)
  return validateConfig(config)
}

/** `kube-sbc run`. */
export const runCommand: Command = {
  name: 'run',
  summary: 'run the SBC standalone from CR files',
  usage: USAGE,
  async run(args, io) {
    const { flags, values } = parseProcessFlags(args, {
      filename: { type: 'string', short: 'f', multiple: true },
      watch: { type: 'boolean' },
      'no-media': { type: 'boolean' },
      'media-timeout': { type: 'string' },
      'hold-timeout': { type: 'string' },
      'media-workers': { type: 'string' },
    })
    if (flags.help) {
      io.stdout(`${USAGE}\n`)
      return 0
    }
    const paths = (values.filename as string[] | undefined) ?? []
    if (paths.length === 0) throw new UsageError('run needs at least one -f PATH')
    const int = (name: string, def: number, max: number) => intFlag(values, name, def, 0, max)
    const media = {
      kind: 'in-process' as const,
      mediaTimeoutSeconds: int('media-timeout', 60, 86_400),
      holdTimeoutSeconds: int('hold-timeout', 3600, 86_400),
      workers: int('media-workers', 1, 64),
    }
    const first = compileFiles(paths, 1)
    const source =
      values.watch === true
        ? fileSource(
            paths,
            (previous) => (previous ? compileFiles(paths, previous.generation + 1) : first),
            `files ${paths.join(',')}`,
          )
        : staticSource(first, `files ${paths.join(',')}`)
    return runSignallingProcess({
      source,
      secrets: { description: 'input Secrets', read: (ref) => inputSecrets.read(ref) },
      onSecretsChange: (listener) => {
        onSecretsChange = listener
      },
      ...(flags.redis !== undefined ? { redisUrl: flags.redis } : {}),
      httpPort: flags.httpPort,
      ...(flags.logLevel !== undefined ? { logLevel: flags.logLevel } : {}),
      logPretty: flags.logPretty,
      drainSeconds: flags.drainSeconds,
      media: values['no-media'] === true ? { kind: 'off' } : media,
    })
  },
}
