/** Where a command writes; tests and `main` pass the process streams. */
export interface CommandIO {
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
}

/**
 * One `kube-sbc` subcommand. `run` gets the arguments after the command name and returns the exit
 * code; it throws `UsageError` for bad flags (main prints one line and the usage, exit 2).
 */
export interface Command {
  readonly name: string
  readonly summary: string
  readonly usage: string
  run(args: readonly string[], io: CommandIO): Promise<number>
}
