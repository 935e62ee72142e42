/**
 * Secret material for a signalling process, one interface with two sources (runtime contract,
 * "Workloads"): in a pod the kubelet mounts each Secret a snapshot names at
 * `/etc/kube-sbc/secrets/<secret>/<key>` ({@link fileSecretResolver}); `kube-sbc run` takes the
 * `v1/Secret` objects of its input YAML ({@link objectSecretResolver}). The snapshot itself only
 * names Secrets and keys (lib/config/model.ts), never carries their contents.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { SbcError } from '../../../lib/errors.ts'

/** Where the kubelet mounts the Secrets of a snapshot (runtime contract). */
export const DEFAULT_SECRETS_DIR = '/etc/kube-sbc/secrets'
/** Environment variable overriding {@link DEFAULT_SECRETS_DIR} (tests, non-Kubernetes installs). */
export const SECRETS_DIR_ENV = 'KUBE_SBC_SECRETS_DIR'

/** Stable codes of secret-material errors; see docs/errors.md. */
export const SecretErrorCode = {
  /** The Secret, or the key in it, does not exist (not mounted, not in the input files). */
  notFound: 'SBC_ERR_SECRET_NOT_FOUND',
  /** The key exists but its content is unusable (not PEM, key does not match the certificate). */
  invalid: 'SBC_ERR_SECRET_INVALID',
} as const
export type SecretErrorCode = (typeof SecretErrorCode)[keyof typeof SecretErrorCode]

/** A Secret key that could not be read or used. */
export class SecretError extends SbcError {
  declare readonly code: SecretErrorCode

  constructor(code: SecretErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
  }
}

/** A reference to one key of a Secret in the snapshot's namespace. */
export interface SecretKey {
  readonly secret: string
  readonly key: string
}

/** Reads Secret keys. `read` throws {@link SecretError}; it never returns empty material. */
export interface SecretResolver {
  /** For logs: `files /etc/kube-sbc/secrets`, `input objects (3 Secrets)`. */
  readonly description: string
  read(ref: SecretKey): Buffer
}

/** The secrets directory: `KUBE_SBC_SECRETS_DIR` when set, else {@link DEFAULT_SECRETS_DIR}. */
export function defaultSecretsDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env[SECRETS_DIR_ENV]
  return dir !== undefined && dir !== '' ? dir : DEFAULT_SECRETS_DIR
}

/**
 * Names a Secret or key may have: a DNS subdomain for the Secret, `[-._a-zA-Z0-9]+` for a key
 * (Kubernetes validation). Checked so a reference can never climb out of the directory.
 */
const SECRET_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/
const KEY_NAME = /^[-._a-zA-Z0-9]+$/

function checkRef(ref: SecretKey): void {
  if (!SECRET_NAME.test(ref.secret) || !KEY_NAME.test(ref.key) || ref.key === '.' || ref.key === '..')
    throw new SecretError(
      SecretErrorCode.notFound,
      `${JSON.stringify(ref.secret)}/${JSON.stringify(ref.key)} is not a valid Secret key reference`,
    )
}

/** Files at `<dir>/<secret>/<key>`, read at each call (a mounted Secret is updated in place). */
export function fileSecretResolver(dir: string = defaultSecretsDir()): SecretResolver {
  return {
    description: `files ${dir}`,
    read(ref) {
      checkRef(ref)
      const file = join(dir, ref.secret, ref.key)
      let bytes: Buffer
      try {
        bytes = readFileSync(file)
      } catch (cause) {
        throw new SecretError(
          SecretErrorCode.notFound,
          `Secret ${ref.secret} key ${ref.key}: cannot read ${file} (${(cause as NodeJS.ErrnoException).code ?? 'error'})`,
          { cause },
        )
      }
      if (bytes.length === 0)
        throw new SecretError(
          SecretErrorCode.invalid,
          `Secret ${ref.secret} key ${ref.key}: ${file} is empty`,
        )
      return bytes
    },
  }
}

/**
 * The `v1/Secret` objects among `objects` (anything else is ignored), keyed by name: `data`
 * base64-decoded, `stringData` as UTF-8 and winning over `data` (as the API server merges them).
 * Objects of another namespace than `namespace` are ignored when it is given.
 */
export function objectSecretResolver(objects: readonly unknown[], namespace?: string): SecretResolver {
  const secrets = new Map<string, Map<string, Buffer>>()
  for (const o of objects) {
    if (typeof o !== 'object' || o === null) continue
    const obj = o as {
      apiVersion?: unknown
      kind?: unknown
      metadata?: { name?: unknown; namespace?: unknown }
      data?: unknown
      stringData?: unknown
    }
    if (obj.kind !== 'Secret' || obj.apiVersion !== 'v1' || typeof obj.metadata?.name !== 'string') continue
    const ns = typeof obj.metadata.namespace === 'string' ? obj.metadata.namespace : 'default'
    if (namespace !== undefined && ns !== namespace) continue
    const keys = new Map<string, Buffer>()
    if (typeof obj.data === 'object' && obj.data !== null)
      for (const [k, v] of Object.entries(obj.data))
        if (typeof v === 'string') keys.set(k, Buffer.from(v, 'base64'))
    if (typeof obj.stringData === 'object' && obj.stringData !== null)
      for (const [k, v] of Object.entries(obj.stringData))
        if (typeof v === 'string') keys.set(k, Buffer.from(v))
    secrets.set(obj.metadata.name, keys)
  }
  return {
    description: `input objects (${secrets.size} Secrets)`,
    read(ref) {
      checkRef(ref)
      const s = secrets.get(ref.secret)
      if (!s)
        throw new SecretError(SecretErrorCode.notFound, `Secret ${ref.secret} is not among the input objects`)
      const v = s.get(ref.key)
      if (v === undefined)
        throw new SecretError(SecretErrorCode.notFound, `Secret ${ref.secret} has no key ${ref.key}`)
      if (v.length === 0)
        throw new SecretError(SecretErrorCode.invalid, `Secret ${ref.secret} key ${ref.key} is empty`)
      return v
    },
  }
}
