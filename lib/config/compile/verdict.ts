import { ConditionReason, ConditionType } from '../../api/v1alpha1/conditions.ts'
import { describeRef, type ObjectRef } from './objects.ts'

/** How bad a finding is: errors exclude the object from the config, warnings do not. */
export type Severity = 'error' | 'warning'

/** One problem the compiler found in one object. */
export interface Finding {
  readonly severity: Severity
  /** The condition the finding affects. */
  readonly type: typeof ConditionType.Accepted | typeof ConditionType.ResolvedRefs
  readonly reason: string
  /** The field at fault (`spec.sipInterfaceRef.name`). */
  readonly field: string
  /** What is wrong, naming the field and any other object involved. */
  readonly message: string
}

/** A condition as the compiler computes it; the operator adds lastTransitionTime when writing status. */
export interface VerdictCondition {
  readonly type: string
  readonly status: 'True' | 'False'
  readonly reason: string
  readonly message: string
  readonly observedGeneration?: number
}

/** The compiler's judgement of one object. */
export interface Verdict extends ObjectRef {
  /** metadata.generation of the object judged, when it had one. */
  readonly generation?: number
  /** Accepted and ResolvedRefs, in that order. */
  readonly conditions: readonly VerdictCondition[]
  readonly findings: readonly Finding[]
  /** True when the object made it into the config. */
  readonly included: boolean
}

/** Collects findings for one object and turns them into a verdict. */
export class VerdictBuilder {
  readonly ref: ObjectRef
  readonly generation: number | undefined
  readonly findings: Finding[] = []

  constructor(ref: ObjectRef, generation: number | undefined) {
    this.ref = ref
    this.generation = generation
  }

  /** Records a finding. */
  add(f: Finding): void {
    this.findings.push(f)
  }

  /** Shorthand for an error finding. */
  error(type: Finding['type'], reason: string, field: string, message: string): void {
    this.add({ severity: 'error', type, reason, field, message: `${field}: ${message}` })
  }

  /** Shorthand for a warning finding (Accepted stays True). */
  warn(reason: string, field: string, message: string): void {
    this.add({
      severity: 'warning',
      type: ConditionType.Accepted,
      reason,
      field,
      message: `${field}: ${message}`,
    })
  }

  /** True when any error was recorded (of the given type, or of any type). */
  hasErrors(type?: Finding['type']): boolean {
    return this.findings.some((f) => f.severity === 'error' && (type === undefined || f.type === type))
  }

  /** The verdict; `included` says whether the object reached the config. */
  build(included: boolean): Verdict {
    const gen = this.generation === undefined ? {} : { observedGeneration: this.generation }
    const who = describeRef(this.ref)
    const condition = (
      type: Finding['type'],
      okReason: string,
      okMessage: string,
      skipped: string | undefined,
    ): VerdictCondition => {
      const errors = this.findings.filter((f) => f.severity === 'error' && f.type === type)
      const warnings = this.findings.filter((f) => f.severity === 'warning' && f.type === type)
      if (errors.length > 0) {
        return {
          type,
          status: 'False',
          reason: errors[0]!.reason,
          message: `${who}: ${errors.map((e) => e.message).join('; ')}`,
          ...gen,
        }
      }
      if (skipped !== undefined)
        return { type, status: 'False', reason: ConditionReason.Invalid, message: skipped, ...gen }
      if (warnings.length > 0) {
        return {
          type,
          status: 'True',
          reason: ConditionReason.AcceptedWithWarnings,
          message: `${who}: ${warnings.map((w) => w.message).join('; ')}`,
          ...gen,
        }
      }
      return { type, status: 'True', reason: okReason, message: okMessage, ...gen }
    }
    const accepted = condition(
      ConditionType.Accepted,
      ConditionReason.Accepted,
      `${who} is valid.`,
      undefined,
    )
    // References of an invalid object were not looked at; say so rather than claiming they resolve.
    const refsSkipped =
      accepted.status === 'False' && !this.hasErrors(ConditionType.ResolvedRefs)
        ? `${who}: references were not checked because the object is not accepted.`
        : undefined
    const resolved = condition(
      ConditionType.ResolvedRefs,
      ConditionReason.ResolvedRefs,
      `${who}: all references resolve.`,
      refsSkipped,
    )
    return {
      ...this.ref,
      ...(this.generation === undefined ? {} : { generation: this.generation }),
      conditions: [accepted, resolved],
      findings: [...this.findings],
      included,
    }
  }
}
