import type { SecurityConfig } from '../../../lib/config/model.ts'
import { headerKey } from '../../../lib/sip/message/headers/header-names.ts'
import type { SipRequest } from '../../../lib/sip/message/message.ts'
import { compileMatcher, type Matcher } from './patterns.ts'
import type { StepResult } from './types.ts'

/** A malicious signature ready to test. */
export interface CompiledSignature {
  name: string
  /** Lower-case header name. */
  header: string
  test: Matcher
  action: 'Drop' | 'Reject'
}

/**
 * Compiles `security.maliciousSignatures`; matching is case-insensitive (the seed's UA prefixes). A
 * header name that is not a token goes to `problems`: the step runs on every request, and looking
 * such a name up would throw there.
 */
export function compileSignatures(
  sigs: SecurityConfig['maliciousSignatures'],
  problems: string[],
): CompiledSignature[] {
  const out: CompiledSignature[] = []
  for (const s of sigs) {
    const header = headerKey(s.header)
    if (header === undefined) {
      problems.push(`malicious signature ${s.name}: ${JSON.stringify(s.header)} is not a header name`)
      continue
    }
    out.push({ name: s.name, header, test: compileMatcher(s.match, true), action: s.action })
  }
  return out
}

/**
 * Step 1, before any other work: a request whose named header (User-Agent by default) matches a
 * malicious signature is dropped silently (action Drop) or answered 403 (action Reject). Every line
 * of the header is tested, trimmed; the first signature in configuration order wins.
 */
export function scanner(sigs: readonly CompiledSignature[], req: SipRequest): StepResult {
  for (const sig of sigs) {
    for (const raw of req.headerValues(sig.header)) {
      const value = raw.trim()
      if (!sig.test(value)) continue
      const why = `${sig.header} ${JSON.stringify(value)} matches signature ${sig.name}`
      if (sig.action === 'Drop') {
        return { kind: 'done', decision: { type: 'drop', reason: 'scanner', signature: sig.name }, why }
      }
      return {
        kind: 'done',
        decision: { type: 'reply', code: 403, reason: 'Forbidden', sourceGroup: null, signature: sig.name },
        why,
      }
    }
  }
  return { kind: 'pass', value: undefined, why: `no malicious signature matched (${sigs.length} checked)` }
}
