import { TypeCompiler } from '@sinclair/typebox/compiler'
import { pointerToField } from '../api/v1alpha1/validate-spec.ts'
import { ConfigInvalidError } from './errors.ts'
import { SbcConfig } from './model.ts'

const check = TypeCompiler.Compile(SbcConfig)

/** Every broken invariant of a schema-valid snapshot: dangling references, unsorted or duplicate entries. */
export function configInvariantErrors(c: SbcConfig): string[] {
  const errors: string[] = []
  const names = (list: readonly { name: string }[], what: string) => {
    const set = new Set<string>()
    for (const e of list) {
      if (set.has(e.name)) errors.push(`${what}: duplicate name ${e.name}`)
      set.add(e.name)
    }
    return set
  }
  const realms = names(c.realms, 'realms')
  const interfaces = names(c.interfaces, 'interfaces')
  const profiles = names(c.profiles, 'profiles')
  const groups = names(c.groups, 'groups')
  names(c.routes, 'routes')
  for (const [i, f] of c.interfaces.entries()) {
    if (!realms.has(f.mediaRealm)) errors.push(`interfaces[${i}].mediaRealm: unknown realm ${f.mediaRealm}`)
  }
  for (const [i, g] of c.groups.entries()) {
    if (!interfaces.has(g.sipInterface))
      errors.push(`groups[${i}].sipInterface: unknown interface ${g.sipInterface}`)
    if (!profiles.has(g.profile)) errors.push(`groups[${i}].profile: unknown profile ${g.profile}`)
    if (!realms.has(g.mediaRealm)) errors.push(`groups[${i}].mediaRealm: unknown realm ${g.mediaRealm}`)
  }
  for (const [i, r] of c.routes.entries()) {
    const prev = c.routes[i - 1]
    if (prev !== undefined && prev.order >= r.order)
      errors.push(`routes[${i}].order: routes must be sorted by unique order`)
    for (const g of r.match.sourceIPGroups)
      if (!groups.has(g)) errors.push(`routes[${i}].match.sourceIPGroups: unknown group ${g}`)
    if (r.action.type === 'route') {
      for (const g of r.action.targets)
        if (!groups.has(g)) errors.push(`routes[${i}].action.targets: unknown group ${g}`)
    }
  }
  for (const [i, r] of c.realms.entries()) {
    if (r.portRange.min > r.portRange.max) errors.push(`realms[${i}].portRange: min exceeds max`)
  }
  return errors
}

/**
 * Validates a snapshot a pod is about to load: the schema, then the invariants the compiler
 * guarantees. Pods refuse (and keep running their current config) rather than half-apply a bad one.
 * Throws `ConfigInvalidError` (`SBC_ERR_CONFIG_INVALID`) listing every problem.
 */
export function validateConfig(value: unknown): SbcConfig {
  const problems = [...check.Errors(value)].map(
    (e) => `${pointerToField('', e.path) || '(root)'}: ${e.message}`,
  )
  if (problems.length > 0) throw new ConfigInvalidError(problems)
  const invariants = configInvariantErrors(value as SbcConfig)
  if (invariants.length > 0) throw new ConfigInvalidError(invariants)
  return value as SbcConfig
}

/** Parses and validates a JSON snapshot. */
export function parseConfig(json: string): SbcConfig {
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch (e) {
    throw new ConfigInvalidError([`not JSON: ${e instanceof Error ? e.message : String(e)}`])
  }
  return validateConfig(value)
}
