import { type DialogState, dialogStateProblem, isDialogState } from '../sip/dialog/dialog-state.ts'
import { decodeDialogState } from './compact-codec.ts'
import { CorruptStateError, InvalidStateError } from './errors.ts'

/** Ids that are safe inside a Redis key and hash tag: no braces, colons or spaces. */
const ID = /^[A-Za-z0-9_-]{1,64}$/

/** Group, lease, pod names: printable, no braces (they become hash tags). */
const NAME = /^[^\s{}]{1,256}$/

/** Rejects a call id that cannot be a key. */
export function checkId(id: string): void {
  if (typeof id !== 'string' || !ID.test(id)) throw new InvalidStateError(`bad call id ${JSON.stringify(id)}`)
}

/** Rejects a group, lease or pod name that cannot be part of a key. */
export function checkName(kind: string, name: string): void {
  if (typeof name !== 'string' || !NAME.test(name))
    throw new InvalidStateError(`bad ${kind} name ${JSON.stringify(name)}`)
}

/** Rejects a non-positive or non-finite number argument. */
export function checkPositive(what: string, n: number): void {
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0)
    throw new InvalidStateError(`${what} must be a positive number, got ${n}`)
}

/** Rejects state that does not match the schema before it is written. */
export function checkState(state: unknown): asserts state is DialogState {
  if (!isDialogState(state)) throw new InvalidStateError(`invalid call state: ${dialogStateProblem(state)}`)
  if (state.a.callId === '' || state.b.callId === '')
    throw new InvalidStateError('a leg has an empty Call-ID')
  // The indexed tags (legIndexes) must exist from the start; an empty one could never be looked up.
  if (state.a.remoteTag === '' || state.b.localTag === '')
    throw new InvalidStateError("the caller's tag (a.remoteTag) and our B tag (b.localTag) are required")
}

/**
 * The leg identity the store indexes: leg A by its Call-ID and the caller's (remote) tag, leg B by its
 * Call-ID and our (local) tag — both known when the call is created. Indexing by the tag's role as
 * well as its value keeps a spiral apart: when our B leg loops back in as the A leg of a new call, the
 * Call-ID and tag are the same but the role differs.
 */
export function legIndexes(state: DialogState): [legA: string, legB: string] {
  return [indexId(state.a.callId, 'r', state.a.remoteTag), indexId(state.b.callId, 'l', state.b.localTag)]
}

/** Index entry name: Call-ID, role of the tag (`l` local, `r` remote), tag. */
export function indexId(callId: string, role: 'l' | 'r', tag: string): string {
  return `${callId}\u0000${role}\u0000${tag}`
}

/** Rejects an update that changes what the indexes point at. */
export function checkSameIdentity(before: DialogState, after: DialogState): void {
  const [a1, b1] = legIndexes(before)
  const [a2, b2] = legIndexes(after)
  if (a1 !== a2 || b1 !== b2) throw new InvalidStateError(`call ${after.id}: leg identity may not change`)
}

/** Decodes stored state (`compact-codec.ts`) into a checked state. */
export function parseStored(id: string, text: string): DialogState {
  let value: unknown
  try {
    value = decodeDialogState(text)
  } catch {
    throw new CorruptStateError(`call ${id}: stored state is not JSON`)
  }
  if (!isDialogState(value)) throw new CorruptStateError(`call ${id}: ${dialogStateProblem(value)}`)
  return value
}
