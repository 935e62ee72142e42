import { SbcError } from '../lib/errors.ts'

/** Bad command-line usage: unknown command or flag, missing argument. Exit code 2. */
export class UsageError extends SbcError {
  constructor(message: string) {
    super('SBC_ERR_CLI_USAGE', message)
  }
}

/** An input path that cannot be read. Exit code 1. */
export class InputError extends SbcError {
  constructor(message: string) {
    super('SBC_ERR_CLI_INPUT', message)
  }
}
