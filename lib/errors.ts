/**
 * Base class of every error kube-sbc raises on purpose. Each subclass carries a stable, greppable
 * `code` (`SBC_ERR_*`), in the manner of undici's `UND_ERR_*` and fastify's `FST_ERR_*`, so logs,
 * metrics and tests match on the code rather than on message text. Modules declare their own
 * subclasses next to their code (`lib/sip/errors.ts`, `lib/config/errors.ts`, ...); docs/errors.md
 * lists them all.
 */
export class SbcError extends Error {
  readonly code: string

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}
