import { Kind, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'

/**
 * `TypeCompiler.Compile(schema).Check` with the same verdicts for plain data (JSON values, object
 * literals), but without the garbage TypeBox's compiled check makes for `additionalProperties:
 * false`: `Object.getOwnPropertyNames(v).every(key => [...names].includes(key))` allocates the
 * name list, a closure and a fresh array of the known names for every property of every such
 * object — ~2 kB per call state, three checks per call (docs/benchmarks/signalling.md, "Session 5:
 * allocation"). Here the schema is compiled without those checks, and a walk built once from the
 * same schema checks the own keys against a `Set` per object.
 *
 * Keys are enumerated with `for...in`, so a non-enumerable own property or an enumerable inherited
 * one is judged differently from TypeBox; neither occurs in plain data. Only objects, optional
 * properties and arrays are followed: a union or intersection containing an object with
 * `additionalProperties: false` is refused when compiling, so a schema change cannot silently drop
 * a check.
 */
export function compileStrictCheck(schema: TSchema): (value: unknown) => boolean {
  const shape = TypeCompiler.Compile(withoutExtraKeyChecks(schema))
  const keys = knownKeysCheck(schema)
  return keys === undefined ? (v) => shape.Check(v) : (v) => shape.Check(v) && keys(v)
}

/** A deep copy of `schema` without `additionalProperties: false` (symbols such as Kind kept). */
function withoutExtraKeyChecks(schema: TSchema): TSchema {
  if (schema.type === 'object' && typeof schema.properties === 'object') {
    const properties: Record<string, TSchema> = {}
    for (const [k, s] of Object.entries(schema.properties as Record<string, TSchema>))
      properties[k] = withoutExtraKeyChecks(s)
    const out: TSchema = { ...schema, properties }
    if (out.additionalProperties === false) delete out.additionalProperties
    return out
  }
  if (schema.type === 'array' && typeof schema.items === 'object')
    return { ...schema, items: withoutExtraKeyChecks(schema.items as TSchema) }
  return schema
}

type KeysCheck = (value: unknown) => boolean

/**
 * The own-key check of `schema` (run after the shape check passed, so values have their types);
 * undefined when nothing in it restricts keys.
 */
function knownKeysCheck(schema: TSchema): KeysCheck | undefined {
  if (schema.type === 'object' && typeof schema.properties === 'object') {
    const props = schema.properties as Record<string, TSchema>
    const names = Object.keys(props)
    const known = schema.additionalProperties === false ? new Set(names) : undefined
    const subNames: string[] = []
    const subs: KeysCheck[] = []
    for (const n of names) {
      const sub = knownKeysCheck(props[n] as TSchema)
      if (sub === undefined) continue
      subNames.push(n)
      subs.push(sub)
    }
    if (known === undefined && subs.length === 0) return undefined
    return (value) => {
      const rec = value as Record<string, unknown>
      if (known !== undefined) for (const k in rec) if (!known.has(k)) return false
      for (let i = 0; i < subs.length; i++) {
        const v = rec[subNames[i] as string]
        // Absent optional properties passed the shape check as undefined.
        if (v !== undefined && !(subs[i] as KeysCheck)(v)) return false
      }
      return true
    }
  }
  if (schema.type === 'array' && typeof schema.items === 'object') {
    const sub = knownKeysCheck(schema.items as TSchema)
    if (sub === undefined) return undefined
    return (value) => {
      const arr = value as unknown[]
      for (let i = 0; i < arr.length; i++) if (!sub(arr[i])) return false
      return true
    }
  }
  if (restrictsKeysWithin(schema))
    throw new Error(
      `compileStrictCheck: additionalProperties: false inside a ${schema[Kind]} is not supported`,
    )
  return undefined
}

/** Whether any object schema nested anywhere in `schema` has `additionalProperties: false`. */
function restrictsKeysWithin(schema: unknown): boolean {
  if (schema === null || typeof schema !== 'object') return false
  if ((schema as TSchema).additionalProperties === false) return true
  return Object.values(schema).some(restrictsKeysWithin)
}
