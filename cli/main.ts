/**
 * The `kube-sbc` executable: a small table of subcommands. Other processes register theirs here
 * (`run`, `operator`, `signalling`, `media`) as they start to work. Errors reach the user as one
 * line, never as a stack trace: usage errors exit 2, everything else 1.
 */
import { readFileSync } from 'node:fs'
import { SbcError } from '../lib/errors.ts'
import type { Command, CommandIO } from './command.ts'
import { mediaCommand } from './commands/media.ts'
import { operatorCommand } from './commands/operator.ts'
import { runCommand } from './commands/run.ts'
import { signallingCommand } from './commands/signalling.ts'
import { validateCommand } from './commands/validate.ts'
import { UsageError } from './errors.ts'

/** The registered subcommands, in the order `--help` lists them. */
export const commands: readonly Command[] = [
  runCommand,
  validateCommand,
  signallingCommand,
  operatorCommand,
  mediaCommand,
]

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length), 'version'.length)
  return [
    'usage: kube-sbc <command> [flags]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    `  ${'version'.padEnd(width)}  print the version`,
    '',
    'Run kube-sbc <command> --help for the flags of a command.',
  ].join('\n')
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(`${usage()}\n`)
    return name === undefined ? 2 : 0
  }
  if (name === 'version' || name === '--version') {
    io.stdout(`kube-sbc ${version()}\n`)
    return 0
  }
  const command = commands.find((c) => c.name === name)
  try {
    if (command === undefined) throw new UsageError(`unknown command "${name}"`)
    return await command.run(rest, io)
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`kube-sbc: ${e.message}\n${command?.usage ?? usage()}\n`)
      return 2
    }
    const message =
      e instanceof SbcError ? e.message : e instanceof Error ? `internal error: ${e.message}` : String(e)
    io.stderr(`kube-sbc: ${message.split('\n')[0]}\n`)
    return 1
  }
}

if (import.meta.main) {
  const io: CommandIO = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }
  process.exitCode = await main(process.argv.slice(2), io)
}
