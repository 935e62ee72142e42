import type { Pattern } from '../../../lib/config/model.ts'

/** A compiled string test. */
export type Matcher = (value: string) => boolean

/**
 * Compiles a snapshot pattern once. Regexes arrive anchored from the compiler. With
 * `ignoreCase`, prefix and exact compare lower-cased text and regexes get the `i` flag.
 */
export function compileMatcher(p: Pattern, ignoreCase: boolean): Matcher {
  if (p.kind === 'regex') {
    const re = new RegExp(p.value, ignoreCase ? 'iu' : 'u')
    return (v) => re.test(v)
  }
  const want = ignoreCase ? p.value.toLowerCase() : p.value
  const norm = ignoreCase ? (v: string) => v.toLowerCase() : (v: string) => v
  return p.kind === 'prefix' ? (v) => norm(v).startsWith(want) : (v) => norm(v) === want
}

/** How a pattern reads in a trace. */
export function describePattern(p: Pattern): string {
  return `${p.kind} ${JSON.stringify(p.value)}`
}
