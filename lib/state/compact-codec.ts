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

function encodeWith(schema: TSchema, value: unknown): unknown {
  if (isObjectSchema(schema) && value !== null && typeof value === 'object') {
    const rec = value as Record<string, unknown>
    const out: unknown[] = []
    for (const [k, sub] of Object.entries(schema.properties))
      out.push(rec[k] === undefined ? null : encodeWith(sub, rec[k]))
    while (out.length > 0 && out[out.length - 1] === null) out.pop()
    return out
  }
  if (isArraySchema(schema) && Array.isArray(value)) return value.map((v) => encodeWith(schema.items, v))
  return value
}

function decodeWith(schema: TSchema, value: unknown): unknown {
  if (isObjectSchema(schema) && Array.isArray(value)) {
    const out: Record<string, unknown> = {}
    let i = 0
    for (const [k, sub] of Object.entries(schema.properties)) {
      const v = value[i++]
      if (v !== null && v !== undefined) out[k] = decodeWith(sub, v)
    }
    return out
  }
  if (isArraySchema(schema) && Array.isArray(value)) return value.map((v) => decodeWith(schema.items, v))
  return value
}

/** The compact JSON text of a call state. */
export function encodeDialogState(state: DialogState): string {
  return JSON.stringify([CODEC_VERSION, encodeWith(DialogStateSchema, state)])
}

/**
 * Decodes {@link encodeDialogState} output. The result is unchecked: callers validate it against the
 * schema (`parseStored`). Returns undefined for text that is not this encoding.
 */
export function decodeDialogState(text: string): unknown {
  const parsed: unknown = JSON.parse(text)
  if (!Array.isArray(parsed) || parsed[0] !== CODEC_VERSION) return undefined
  return decodeWith(DialogStateSchema, parsed[1])
}
