import { SbcError } from '../errors.ts'

/** A request to the Kubernetes API failed with an HTTP status (the `Status` reason is kept). */
export class KubeApiError extends SbcError {
  /** HTTP status code, e.g. 404, 409, 403. */
  readonly statusCode: number
  /** `Status.reason` from the API server, e.g. `NotFound`, `Conflict`, `Forbidden`, when present. */
  readonly reason: string | undefined

  constructor(statusCode: number, reason: string | undefined, message: string) {
    super('SBC_ERR_KUBE_API', message)
    this.statusCode = statusCode
    this.reason = reason
  }
}

/** `get()` was called on a work queue that has been shut down and drained. */
export class WorkQueueShutDownError extends SbcError {
  constructor() {
    super('SBC_ERR_KUBE_QUEUE_SHUT_DOWN', 'work queue is shut down')
  }
}

/** A Kubernetes kind could not be resolved through API discovery (CRD not installed, typo). */
export class UnknownKindError extends SbcError {
  constructor(apiVersion: string, kind: string) {
    super('SBC_ERR_KUBE_UNKNOWN_KIND', `the API server does not serve ${kind} in ${apiVersion}`)
  }
}
