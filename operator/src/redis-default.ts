import type { KubernetesObject } from '@kubernetes/client-node'
import type { SbcConfig } from '../../lib/config/model.ts'
import { SbcError } from '../../lib/errors.ts'
import type { DesiredCondition } from '../../lib/kube/conditions.ts'
import { redact } from '../../lib/state/redis-url.ts'
import { childName, commonLabels } from './names.ts'
import { ownerReference } from './owner.ts'

/**
 * The Redis a SessionBorderController uses when its spec names none (neither `spec.redis.url` nor
 * `spec.redis.sentinel`): the chart's bundled Redis or the external one it was given, handed to
 * the operator as `KUBE_SBC_DEFAULT_REDIS_*` environment variables (runtime contract, "Redis").
 */
export interface DefaultRedis {
  /** `none`: SBCs that name no Redis keep the in-process store. */
  readonly mode: 'bundled' | 'external' | 'none'
  readonly url?: string
  readonly sentinel?: { readonly masterName: string; readonly addresses: readonly string[] }
  /** The password Secret, in the operator's (release) namespace; mirrored into each SBC's namespace. */
  readonly passwordSecret?: { readonly namespace: string; readonly name: string; readonly key: string }
}

export const NO_DEFAULT_REDIS: DefaultRedis = { mode: 'none' }

/** A `KUBE_SBC_DEFAULT_REDIS_*` variable is malformed or inconsistent; the operator does not start. */
export class DefaultRedisConfigError extends SbcError {
  constructor(message: string) {
    super('SBC_ERR_OPERATOR_DEFAULT_REDIS', message)
  }
}

/** `<sbc>-redis-auth` exists but is not controlled by the SBC: the operator does not overwrite it. */
export class MirrorConflictError extends SbcError {
  constructor(namespace: string, name: string) {
    super(
      'SBC_ERR_OPERATOR_MIRROR_CONFLICT',
      `Secret ${namespace}/${name} exists and is not owned by this SessionBorderController; the operator will not overwrite it (rename or delete it, or set spec.redis.passwordSecretRef)`,
    )
  }
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
/** Secret data keys: `[-._a-zA-Z0-9]+` (Kubernetes validation of ConfigMap/Secret keys). */
const SECRET_KEY = /^[-._a-zA-Z0-9]{1,253}$/

/**
 * Reads the chart's defaults from the environment. Absent `KUBE_SBC_DEFAULT_REDIS_MODE` means
 * `none` (the operator started outside the chart). Every inconsistency is an error naming the
 * variable, so a hand-edited Deployment fails at start rather than with pods that cannot connect.
 */
export function defaultRedisFromEnv(env: Readonly<Record<string, string | undefined>>): DefaultRedis {
  const v = (name: string) => {
    const value = env[`KUBE_SBC_DEFAULT_REDIS_${name}`]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  const mode = v('MODE') ?? 'none'
  if (mode !== 'bundled' && mode !== 'external' && mode !== 'none')
    throw new DefaultRedisConfigError(
      `KUBE_SBC_DEFAULT_REDIS_MODE must be bundled, external or none, not "${mode}"`,
    )
  if (mode === 'none') return NO_DEFAULT_REDIS
  const url = v('URL')
  const master = v('SENTINEL_MASTER')
  const sentinels = v('SENTINELS')
  if (url !== undefined && master !== undefined)
    throw new DefaultRedisConfigError(
      'KUBE_SBC_DEFAULT_REDIS_URL and KUBE_SBC_DEFAULT_REDIS_SENTINEL_MASTER are mutually exclusive',
    )
  let sentinel: DefaultRedis['sentinel']
  if (url !== undefined) {
    if (!/^rediss?:\/\/[^\s]+$/.test(url))
      throw new DefaultRedisConfigError('KUBE_SBC_DEFAULT_REDIS_URL must be a redis:// or rediss:// URL')
  } else if (master !== undefined) {
    const addresses = (sentinels ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
    if (addresses.length === 0)
      throw new DefaultRedisConfigError(
        'KUBE_SBC_DEFAULT_REDIS_SENTINELS must list the Sentinels (host:port,...) when KUBE_SBC_DEFAULT_REDIS_SENTINEL_MASTER is set',
      )
    const bad = addresses.find((a) => !/^[^:\s]+:[0-9]{1,5}$/.test(a))
    if (bad !== undefined)
      throw new DefaultRedisConfigError(`KUBE_SBC_DEFAULT_REDIS_SENTINELS: "${bad}" is not host:port`)
    sentinel = { masterName: master, addresses }
  } else {
    throw new DefaultRedisConfigError(
      `KUBE_SBC_DEFAULT_REDIS_MODE=${mode} needs KUBE_SBC_DEFAULT_REDIS_URL or KUBE_SBC_DEFAULT_REDIS_SENTINEL_MASTER`,
    )
  }
  const ref = v('PASSWORD_SECRET')
  let passwordSecret: DefaultRedis['passwordSecret']
  if (ref !== undefined) {
    const [namespace, name, ...rest] = ref.split('/')
    if (
      namespace === undefined ||
      name === undefined ||
      rest.length > 0 ||
      !DNS_LABEL.test(namespace) ||
      !DNS_SUBDOMAIN.test(name)
    )
      throw new DefaultRedisConfigError(
        `KUBE_SBC_DEFAULT_REDIS_PASSWORD_SECRET must be <namespace>/<name>, not "${ref}"`,
      )
    const key = v('PASSWORD_SECRET_KEY') ?? 'redis-password'
    if (!SECRET_KEY.test(key))
      throw new DefaultRedisConfigError(
        `KUBE_SBC_DEFAULT_REDIS_PASSWORD_SECRET_KEY "${key}" is not a Secret key`,
      )
    passwordSecret = { namespace, name, key }
  }
  return { mode, ...(url !== undefined ? { url } : {}), ...(sentinel ? { sentinel } : {}), passwordSecret }
}

/** The mirrored password Secret of SBC `sbc`: `<sbc>-redis-auth`, key `password`. */
export const redisAuthName = (sbc: string) => childName(sbc, 'redis-auth', 253)
export const REDIS_AUTH_KEY = 'password'
/** Annotation on the mirror naming its source, for whoever finds the copy. */
export const ANNOTATION_MIRRORED_FROM = 'sbc.kubesbc.io/mirrored-from'

/** Condition type on the SessionBorderController saying which Redis it uses. */
export const REDIS_CONDITION = 'RedisConfigured'
/** Reasons of {@link REDIS_CONDITION} (CamelCase, stable). */
export const RedisReason = {
  /** The SBC names its Redis in spec.redis. */
  SpecRedis: 'SpecRedis',
  /** The SBC names none and uses the operator's default (chart's bundled or external Redis). */
  DefaultRedis: 'DefaultRedis',
  /** Neither the SBC nor the operator names a Redis: in-process store. */
  InMemory: 'InMemory',
  /** The default's password Secret does not exist (False). */
  SecretNotFound: 'SecretNotFound',
  /** The default's password Secret lacks the key (False). */
  InvalidSecret: 'InvalidSecret',
  /** Writing or deleting the mirror failed (False); the message carries the API error. */
  MirrorFailed: 'MirrorFailed',
} as const

type SecretObject = KubernetesObject & { data?: Record<string, string>; type?: string }

/** What the config controller does about Redis for one SBC. */
export interface RedisResolution {
  /** The snapshot's `redis` section. */
  readonly redis: SbcConfig['redis']
  readonly condition: DesiredCondition
  /**
   * `apply`: the mirror Secret to server-side apply; `keep`: the source is unusable, leave any
   * existing mirror alone (running pods keep their password); `delete`: the SBC no longer uses a
   * mirror, remove one this SBC owns.
   */
  readonly mirror:
    | { readonly action: 'apply'; readonly secret: SecretObject }
    | { readonly action: 'keep' | 'delete' }
}

// Condition messages land in .status and Events, readable by far more users than the Secret: a
// password written in the URL (the CRD allows `redis://user:password@host`) is masked.
const where = (r: SbcConfig['redis']) =>
  r.mode === 'url'
    ? redact(r.url ?? '')
    : r.mode === 'sentinel'
      ? `Sentinel master ${r.sentinel?.masterName} via ${r.sentinel?.addresses.join(',')}`
      : ''

/** The in-snapshot form of a default's endpoint. */
function endpoint(d: DefaultRedis): Pick<SbcConfig['redis'], 'mode' | 'url' | 'sentinel'> {
  return d.url !== undefined
    ? { mode: 'url', url: d.url, sentinel: null }
    : {
        mode: 'sentinel',
        url: null,
        sentinel: { masterName: d.sentinel?.masterName ?? '', addresses: [...(d.sentinel?.addresses ?? [])] },
      }
}

/**
 * Decides the Redis of SBC `sbc` (pure). An SBC that sets `spec.redis.url` or `.sentinel` keeps
 * what the compiler made of it. One that sets neither gets the default endpoint; its password is
 * the SBC's own `spec.redis.passwordSecretRef` if given, else the default's Secret mirrored into
 * the SBC's namespace as `<sbc>-redis-auth` (key `password`), because pods mount Secrets of their
 * own namespace only. `sourceSecret` is the default's password Secret as cached (undefined: absent).
 */
export function resolveRedis(
  sbc: KubernetesObject & {
    spec?: { redis?: { url?: string; sentinel?: unknown; passwordSecretRef?: { name: string } } }
  },
  compiled: SbcConfig['redis'],
  defaults: DefaultRedis,
  sourceSecret: SecretObject | undefined,
): RedisResolution {
  const name = sbc.metadata?.name ?? ''
  const generation = sbc.metadata?.generation
  const gen = generation === undefined ? {} : { observedGeneration: generation }
  const condition = (status: 'True' | 'False', reason: string, message: string): DesiredCondition => ({
    type: REDIS_CONDITION,
    status,
    reason,
    message,
    ...gen,
  })
  const spec = sbc.spec?.redis
  if (spec?.url !== undefined || spec?.sentinel !== undefined) {
    const pw = compiled.password === null ? 'no password' : `password from Secret ${compiled.password.secret}`
    return {
      redis: compiled,
      condition: condition(
        'True',
        RedisReason.SpecRedis,
        `Uses the Redis named in spec.redis: ${where(compiled)} (${pw}).`,
      ),
      mirror: { action: 'delete' },
    }
  }
  if (defaults.mode === 'none') {
    return {
      redis: compiled,
      condition: condition(
        'True',
        RedisReason.InMemory,
        'No Redis: spec.redis names none and the operator has no default (chart redis.mode=none). Dialog state stays in each pod, so calls do not survive a pod restart.',
      ),
      mirror: { action: 'delete' },
    }
  }
  const ep = endpoint(defaults)
  const label = `the ${defaults.mode} default Redis ${where({ ...ep, password: null })}`
  if (compiled.password !== null) {
    return {
      redis: { ...ep, password: compiled.password },
      condition: condition(
        'True',
        RedisReason.DefaultRedis,
        `Uses ${label} with the password from Secret ${compiled.password.secret} (spec.redis.passwordSecretRef).`,
      ),
      mirror: { action: 'delete' },
    }
  }
  const src = defaults.passwordSecret
  if (src === undefined) {
    return {
      redis: { ...ep, password: null },
      condition: condition('True', RedisReason.DefaultRedis, `Uses ${label} (no password).`),
      mirror: { action: 'delete' },
    }
  }
  const mirrorName = redisAuthName(name)
  // Published even when the source is unusable: the pods' spec then names the mirror that a
  // later reconcile creates, and the condition says what is missing.
  const redis = { ...ep, password: { secret: mirrorName, key: REDIS_AUTH_KEY } }
  const source = `${src.namespace}/${src.name}`
  if (sourceSecret === undefined) {
    return {
      redis,
      condition: condition(
        'False',
        RedisReason.SecretNotFound,
        `The default Redis password Secret ${source} (key ${src.key}) does not exist, so Secret ${mirrorName} cannot be mirrored from it; create it or set spec.redis.`,
      ),
      mirror: { action: 'keep' },
    }
  }
  const value = sourceSecret.data?.[src.key]
  if (value === undefined || value === '') {
    return {
      redis,
      condition: condition(
        'False',
        RedisReason.InvalidSecret,
        `The default Redis password Secret ${source} has no key ${src.key}, so Secret ${mirrorName} cannot be mirrored from it.`,
      ),
      mirror: { action: 'keep' },
    }
  }
  return {
    redis,
    condition: condition(
      'True',
      RedisReason.DefaultRedis,
      `Uses ${label} with the password from Secret ${source} (key ${src.key}), mirrored as Secret ${mirrorName}.`,
    ),
    mirror: {
      action: 'apply',
      secret: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: mirrorName,
          namespace: sbc.metadata?.namespace,
          labels: commonLabels(name, 'redis'),
          annotations: { [ANNOTATION_MIRRORED_FROM]: `${source}#${src.key}` },
          ownerReferences: [ownerReference(sbc)],
        },
        type: 'Opaque',
        data: { [REDIS_AUTH_KEY]: value },
      },
    },
  }
}

/** True when the cached mirror already holds what `desired` would write (no apply needed). */
export function mirrorUpToDate(cached: SecretObject | undefined, desired: SecretObject): boolean {
  if (cached === undefined) return false
  const m = cached.metadata
  const d = desired.metadata
  return (
    cached.data?.[REDIS_AUTH_KEY] === desired.data?.[REDIS_AUTH_KEY] &&
    Object.keys(cached.data ?? {}).length === 1 &&
    m?.annotations?.[ANNOTATION_MIRRORED_FROM] === d?.annotations?.[ANNOTATION_MIRRORED_FROM] &&
    (m?.ownerReferences ?? []).some((r) => r.uid === d?.ownerReferences?.[0]?.uid && r.controller === true)
  )
}
