import { SbcError } from '../errors.ts'

/** A config snapshot failed its schema or its invariants (`validateConfig`). */
export class ConfigInvalidError extends SbcError {
  /** Every problem found, one per line, each naming the field. */
  readonly problems: readonly string[]

  constructor(problems: readonly string[]) {
    super('SBC_ERR_CONFIG_INVALID', `invalid SbcConfig: ${problems.join('; ')}`)
    this.problems = problems
  }
}

/** The compile scope names a SessionBorderController that is not in the input. */
export class ControllerNotFoundError extends SbcError {
  constructor(namespace: string, name: string) {
    super(
      'SBC_ERR_CONFIG_CONTROLLER_NOT_FOUND',
      `SessionBorderController ${namespace}/${name} is not in the input`,
    )
  }
}
