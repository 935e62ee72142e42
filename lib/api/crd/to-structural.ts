import type { TSchema } from '@sinclair/typebox'

/** A plain JSON schema node as it appears in a CRD (`JSONSchemaProps`). */
export type JsonSchema = { [key: string]: unknown }

/**
 * Converts a TypeBox schema into the OpenAPI v3 dialect of a CRD: drops TypeBox's symbol keys,
 * `$id`/`$schema` and `additionalProperties: false` (structural schemas prune unknown fields
 * instead), turns `Type.Record` (`patternProperties`) into `additionalProperties`, and rewrites
 * draft-2019 numeric `exclusiveMinimum`/`exclusiveMaximum` into the draft-4 boolean form the API
 * server expects.
 */
export function toStructural(schema: TSchema | JsonSchema): JsonSchema {
  const out: JsonSchema = {}
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$id' || key === '$schema') continue
    if (key === 'additionalProperties' && value === false) continue
    if (key === 'patternProperties' && isObject(value)) {
      const only = Object.values(value)
      if (only.length === 1 && isObject(only[0])) out.additionalProperties = toStructural(only[0])
      else out[key] = value
      continue
    }
    if ((key === 'exclusiveMinimum' || key === 'exclusiveMaximum') && typeof value === 'number') {
      out[key === 'exclusiveMinimum' ? 'minimum' : 'maximum'] = value
      out[key] = true
      continue
    }
    if (key === 'properties' && isObject(value)) {
      out.properties = Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, toStructural(v as JsonSchema)]),
      )
      continue
    }
    if ((key === 'items' || key === 'additionalProperties' || key === 'not') && isObject(value)) {
      out[key] = toStructural(value)
      continue
    }
    if ((key === 'anyOf' || key === 'allOf' || key === 'oneOf') && Array.isArray(value)) {
      out[key] = value.map((v) => toStructural(v as JsonSchema))
      continue
    }
    out[key] = structuredClone(value)
  }
  return out
}

function isObject(v: unknown): v is JsonSchema {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
