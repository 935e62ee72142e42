import { SbcError } from '../../../lib/errors.ts'

/**
 * The configuration cannot be turned into a pipeline (a manipulation on a forbidden header, a value
 * that would not be valid SIP, an unknown variable). Lists every problem; the pod keeps its current
 * pipeline.
 */
export class PipelineConfigError extends SbcError {
  readonly problems: readonly string[]

  constructor(problems: readonly string[]) {
    super('SBC_ERR_PIPELINE_CONFIG', `Pipeline configuration rejected: ${problems.join('; ')}`)
    this.problems = problems
  }
}

/**
 * A manipulation could not be applied without producing invalid SIP (e.g. ReplaceHost on a
 * malformed Contact). The message is left as it was before the failing rule.
 */
export class ManipulationError extends SbcError {
  readonly rule: string

  constructor(rule: string, message: string, options?: ErrorOptions) {
    super('SBC_ERR_MANIPULATION', `Manipulation ${rule}: ${message}`, options)
    this.rule = rule
  }
}
