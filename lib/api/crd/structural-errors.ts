import type { JsonSchema } from './to-structural.ts'

/** Keywords a CRD `JSONSchemaProps` accepts (anything else fails to decode on the API server). */
const ALLOWED = new Set([
  'description',
  'type',
  'format',
  'title',
  'default',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'multipleOf',
  'enum',
  'maxProperties',
  'minProperties',
  'required',
  'items',
  'allOf',
  'oneOf',
  'anyOf',
  'not',
  'properties',
  'additionalProperties',
  'externalDocs',
  'example',
  'nullable',
])
/** Keywords the API server rejects in CRD schemas even though JSONSchemaProps has them. */
const FORBIDDEN = new Set([
  '$ref',
  'definitions',
  'dependencies',
  'additionalItems',
  'patternProperties',
  'id',
  '$schema',
])
const ROOT_METADATA = 'openAPIV3Schema.properties.metadata'
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean'])
/** Inside anyOf/oneOf/allOf/not, a node may only constrain values, never declare shape or docs. */
const FORBIDDEN_IN_JUNCTOR = new Set([
  'type',
  'default',
  'description',
  'nullable',
  'additionalProperties',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'x-kubernetes-embedded-resource',
])

/**
 * Lists every way `schema` breaks the rules for a structural CRD schema (KEP-2335, "Specifying a
 * structural schema" in the Kubernetes docs) and for what JSONSchemaProps can hold. Empty means the
 * schema would be accepted. The rules are the API server's; each message carries the field path.
 */
export function structuralErrors(schema: JsonSchema, path = 'openAPIV3Schema'): string[] {
  const errors: string[] = []
  visit(schema, path, false, errors)
  return errors
}

function visit(node: JsonSchema, path: string, inJunctor: boolean, errors: string[]): void {
  for (const key of Object.keys(node)) {
    if (FORBIDDEN.has(key)) errors.push(`${path}: ${key} is forbidden`)
    else if (!ALLOWED.has(key) && !key.startsWith('x-kubernetes-'))
      errors.push(`${path}: unknown keyword ${key}`)
    if (inJunctor && FORBIDDEN_IN_JUNCTOR.has(key))
      errors.push(`${path}: ${key} must not appear inside anyOf/oneOf/allOf/not`)
  }
  const intOrString = node['x-kubernetes-int-or-string'] === true
  const preserve = node['x-kubernetes-preserve-unknown-fields'] === true
  if (!inJunctor) {
    if (node.type === undefined) {
      if (!intOrString && !preserve) errors.push(`${path}: type must be set`)
    } else if (typeof node.type !== 'string' || !TYPES.has(node.type)) {
      errors.push(`${path}: type ${JSON.stringify(node.type)} is not a single OpenAPI type`)
    }
    if (path === ROOT_METADATA) {
      // The API server accepts only `type: object` (plus name/generateName restrictions) on the root
      // metadata of a CRD schema and rejects a description there; kubectl explain documents it.
      if (node.description !== undefined) errors.push(`${path}: description is not allowed on root metadata`)
    } else if (typeof node.description !== 'string' || node.description.trim() === '') {
      errors.push(`${path}: description is missing`)
    }
  }
  if (intOrString) {
    if (node.type !== undefined) errors.push(`${path}: x-kubernetes-int-or-string must not have a type`)
    const anyOf = JSON.stringify(node.anyOf)
    if (anyOf !== JSON.stringify([{ type: 'integer' }, { type: 'string' }])) {
      errors.push(`${path}: x-kubernetes-int-or-string needs anyOf [integer, string]`)
    }
  }
  for (const k of ['exclusiveMinimum', 'exclusiveMaximum', 'nullable', 'uniqueItems']) {
    if (node[k] !== undefined && typeof node[k] !== 'boolean') errors.push(`${path}: ${k} must be a boolean`)
  }
  if (node.uniqueItems === true)
    errors.push(`${path}: uniqueItems true is forbidden (use x-kubernetes-list-type: set)`)
  if (node.properties !== undefined && node.additionalProperties !== undefined) {
    errors.push(`${path}: properties and additionalProperties are mutually exclusive`)
  }
  if (node.additionalProperties !== undefined && typeof node.additionalProperties !== 'object') {
    errors.push(`${path}: additionalProperties must be a schema`)
  }
  if (
    node.type === 'array' &&
    (typeof node.items !== 'object' || node.items === null || Array.isArray(node.items))
  ) {
    errors.push(`${path}: an array needs exactly one items schema`)
  }
  if (node['x-kubernetes-list-type'] === 'map') {
    const keys = node['x-kubernetes-list-map-keys']
    const items = node.items as JsonSchema | undefined
    const required = new Set((items?.required as string[] | undefined) ?? [])
    if (!Array.isArray(keys) || keys.length === 0)
      errors.push(`${path}: a map list needs x-kubernetes-list-map-keys`)
    else
      for (const k of keys) if (!required.has(k)) errors.push(`${path}: list map key ${k} must be required`)
  }
  if (node.type === 'object' && Array.isArray(node.required)) {
    const props = (node.properties ?? {}) as JsonSchema
    for (const r of node.required as string[])
      if (!(r in props)) errors.push(`${path}: required ${r} is not a property`)
  }
  const rules = node['x-kubernetes-validations']
  if (rules !== undefined) {
    if (!Array.isArray(rules) || rules.length === 0)
      errors.push(`${path}: x-kubernetes-validations must be a non-empty list`)
    else
      for (const r of rules)
        if (typeof r?.rule !== 'string' || typeof r?.message !== 'string')
          errors.push(`${path}: a validation needs rule and message`)
  }
  if (node.properties !== undefined) {
    for (const [k, v] of Object.entries(node.properties as JsonSchema))
      visit(v as JsonSchema, `${path}.properties.${k}`, inJunctor, errors)
  }
  if (typeof node.items === 'object' && node.items !== null && !Array.isArray(node.items)) {
    visit(node.items as JsonSchema, `${path}.items`, inJunctor, errors)
  }
  if (typeof node.additionalProperties === 'object' && node.additionalProperties !== null) {
    visit(node.additionalProperties as JsonSchema, `${path}.additionalProperties`, inJunctor, errors)
  }
  for (const j of ['anyOf', 'oneOf', 'allOf'] as const) {
    const list = node[j]
    // The int-or-string anyOf is the one junctor form that may carry types (checked above).
    if (intOrString && j === 'anyOf') continue
    if (!Array.isArray(list)) continue
    for (const [i, s] of list.entries()) visit(s as JsonSchema, `${path}.${j}[${i}]`, true, errors)
  }
  if (typeof node.not === 'object' && node.not !== null)
    visit(node.not as JsonSchema, `${path}.not`, true, errors)
}
