import { SbcError } from '../errors.ts'

/**
 * The state store cannot be reached (Redis down, timed out, not yet connected). Callers answer new
 * INVITEs with 503 on this code; the store keeps reconnecting on its own.
 */
export class StateUnavailableError extends SbcError {
  constructor(message: string, options?: ErrorOptions) {
    super('SBC_ERR_STATE_UNAVAILABLE', message, options)
  }
}

/**
 * Whether `e` is the store being unreachable or too slow (`SBC_ERR_STATE_UNAVAILABLE`), by its code,
 * so that such an error still counts after it crossed a layer that rethrows it as its own object.
 */
export function isStateUnavailable(e: unknown): boolean {
  return (e as { code?: string } | undefined)?.code === 'SBC_ERR_STATE_UNAVAILABLE'
}

/** `createCall` found a call with the same id, or a leg index already taken by another call. */
export class CallExistsError extends SbcError {
  constructor(message: string) {
    super('SBC_ERR_STATE_CALL_EXISTS', message)
  }
}

/**
 * `createCall` found a CANCEL of the call's INVITE recorded by another process before the call was
 * stored (`cancelUnstored`): nothing was stored, and the caller answers the INVITE 487.
 */
export class CallCancelledError extends SbcError {
  constructor(id: string) {
    super('SBC_ERR_STATE_CALL_CANCELLED', `call ${id}: its INVITE was cancelled before it was stored`)
  }
}

/** The call does not exist (never created, deleted, or expired). */
export class CallNotFoundError extends SbcError {
  constructor(id: string) {
    super('SBC_ERR_STATE_CALL_NOT_FOUND', `call ${id} not found`)
  }
}

/** Compare-and-set failed: the stored version is not the one the update was based on. */
export class VersionConflictError extends SbcError {
  readonly expected: number
  readonly actual: number

  constructor(id: string, expected: number, actual: number) {
    super('SBC_ERR_STATE_VERSION_CONFLICT', `call ${id}: expected version ${expected}, store has ${actual}`)
    this.expected = expected
    this.actual = actual
  }
}

/** The caller passed something the store refuses (bad id, schema violation, changed leg identity). */
export class InvalidStateError extends SbcError {
  constructor(message: string) {
    super('SBC_ERR_STATE_INVALID', message)
  }
}

/** Stored data did not pass the schema: a corrupt or foreign record. */
export class CorruptStateError extends SbcError {
  constructor(message: string) {
    super('SBC_ERR_STATE_CORRUPT', message)
  }
}
