import { ConditionReason, ConditionType } from '../../api/v1alpha1/conditions.ts'
import type { StringPattern } from '../../api/v1alpha1/routing-rule.ts'
import type { Pattern } from '../model.ts'
import type { VerdictBuilder } from './verdict.ts'

/**
 * Compiles a CR string pattern into the snapshot form. Regexes are anchored here, once, so every
 * consumer matches the whole value; one that does not compile is an Accepted=False finding
 * (reason InvalidPattern) rather than a crash in a signalling pod.
 */
export function compilePattern(p: StringPattern, field: string, verdict: VerdictBuilder): Pattern | null {
  if (p.prefix !== undefined) return { kind: 'prefix', value: p.prefix }
  if (p.exact !== undefined) return { kind: 'exact', value: p.exact }
  const source = p.regex ?? ''
  try {
    new RegExp(`^(?:${source})$`, 'u')
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e)
    verdict.error(
      ConditionType.Accepted,
      ConditionReason.InvalidPattern,
      `${field}.regex`,
      `invalid regular expression: ${why}`,
    )
    return null
  }
  return { kind: 'regex', value: `^(?:${source})$` }
}
