import type { TSchema } from '@sinclair/typebox'
import { type DialogState, DialogStateSchema } from '../sip/dialog/dialog-state.ts'

/**
 * A positional JSON encoding of {@link DialogState} for Redis: every object becomes an array of its
 * property values in schema order, absent optional properties become `null` (trailing ones dropped).
 * The field names are most of the bytes of the plain JSON; dropping them keeps an answered dialog
 * under the 2 KB of Redis memory issue 4 asks for (docs/benchmarks/state.md). ADR 0071.
 *
 * Compatibility rule (recorded in dialog-state.ts): properties are only ever appended, as optional,
 * at the end of their object; never reordered or removed. An old record then decodes with the new
 * fields absent. Element 0 of the encoding is the format version, for the day that rule is broken.
 */
export const CODEC_VERSION = 1

interface ObjectSchema {
  type: 'object'
  properties: Record<string, TSchema>
}

function isObjectSchema(s: TSchema): s is TSchema & ObjectSchema {
  return s.type === 'object' && typeof s.properties === 'object'
}

function isArraySchema(s: TSchema): s is TSchema & { type: 'array'; items: TSchema } {
  return s.type === 'array' && typeof s.items === 'object'
}

type Codec = (value: unknown) => unknown

/**
 * The encoder for `schema`, built once: property names and the encoders of nested objects and
 * arrays are looked up here, not per call (walking `Object.entries` of the schema on every encode
 * cost ~15 µs per call state, ~4× the JSON text itself; docs/benchmarks/signalling.md). Undefined
 * for a schema whose values are stored as they are.
 */
function encoderFor(schema: TSchema): Codec | undefined {
  if (isObjectSchema(schema)) {
    const keys = Object.keys(schema.properties)
    const subs = keys.map((k) => encoderFor(schema.properties[k] as TSchema))
    return (value) => {
      if (value === null || typeof value !== 'object') return value
      const rec = value as Record<string, unknown>
      const out: unknown[] = new Array(keys.length)
      let used = 0
      for (let i = 0; i < keys.length; i++) {
        const v = rec[keys[i] as string]
        if (v === undefined || v === null) {
          out[i] = null
          continue
        }
        const sub = subs[i]
        out[i] = sub === undefined ? v : sub(v)
        used = i + 1
      }
      // Trailing absent properties are dropped.
      out.length = used
      return out
    }
  }
  if (isArraySchema(schema)) {
    const sub = encoderFor(schema.items)
    return sub === undefined ? undefined : (value) => (Array.isArray(value) ? value.map(sub) : value)
  }
  return undefined
}

/** The decoder for `schema`, built once like {@link encoderFor}. */
function decoderFor(schema: TSchema): Codec | undefined {
  if (isObjectSchema(schema)) {
    const keys = Object.keys(schema.properties)
    const subs = keys.map((k) => decoderFor(schema.properties[k] as TSchema))
    return (value) => {
      if (!Array.isArray(value)) return value
      const out: Record<string, unknown> = {}
      const n = Math.min(keys.length, value.length)
      for (let i = 0; i < n; i++) {
        const v: unknown = value[i]
        if (v === null || v === undefined) continue
        const sub = subs[i]
        out[keys[i] as string] = sub === undefined ? v : sub(v)
      }
      return out
    }
  }
  if (isArraySchema(schema)) {
    const sub = decoderFor(schema.items)
    return sub === undefined ? undefined : (value) => (Array.isArray(value) ? value.map(sub) : value)
  }
  return undefined
}

const encodeState = encoderFor(DialogStateSchema) as Codec
const decodeState = decoderFor(DialogStateSchema) as Codec

/** The compact JSON text of a call state. */
export function encodeDialogState(state: DialogState): string {
  return JSON.stringify([CODEC_VERSION, encodeState(state)])
}

/**
 * Decodes {@link encodeDialogState} output. The result is unchecked: callers validate it against the
 * schema (`parseStored`). Returns undefined for text that is not this encoding.
 */
export function decodeDialogState(text: string): unknown {
  const parsed: unknown = JSON.parse(text)
  if (!Array.isArray(parsed) || parsed[0] !== CODEC_VERSION) return undefined
  return decodeState(parsed[1])
}

/**
 * Where property `key` of an object of `schema` sits in its compact encoding, counted from 1 as Lua
 * counts: the Redis scripts that read a stored call (`sbcEndByLeg`) take their positions from here,
 * so the schema stays the one source of the layout.
 */
export function luaPosition(schema: TSchema, key: string): number {
  const i = isObjectSchema(schema) ? Object.keys(schema.properties).indexOf(key) : -1
  if (i < 0) throw new Error(`no property ${key} in the schema`)
  return i + 1
}
