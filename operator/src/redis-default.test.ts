import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { DEFAULT_CONTROLLER_SETTINGS } from '../../lib/config/compile/session-border-controller.ts'
import {
  DefaultRedisConfigError,
  defaultRedisFromEnv,
  mirrorUpToDate,
  REDIS_CONDITION,
  resolveRedis,
} from './redis-default.ts'

const env = (o: Record<string, string>) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [`KUBE_SBC_DEFAULT_REDIS_${k}`, v]))

describe('default Redis (KUBE_SBC_DEFAULT_REDIS_*)', () => {
  it('reads what the chart renders for bundled, external URL and external Sentinel', () => {
    assert.deepEqual(
      defaultRedisFromEnv(
        env({
          MODE: 'bundled',
          URL: 'redis://r-redis.ns.svc:6379',
          PASSWORD_SECRET: 'ns/r-redis',
          PASSWORD_SECRET_KEY: 'redis-password',
        }),
      ),
      {
        mode: 'bundled',
        url: 'redis://r-redis.ns.svc:6379',
        passwordSecret: { namespace: 'ns', name: 'r-redis', key: 'redis-password' },
      },
    )
    assert.deepEqual(
      defaultRedisFromEnv(env({ MODE: 'external', SENTINEL_MASTER: 'm', SENTINELS: 's1:26379, s2:26379' })),
      {
        mode: 'external',
        sentinel: { masterName: 'm', addresses: ['s1:26379', 's2:26379'] },
        passwordSecret: undefined,
      },
    )
    assert.deepEqual(defaultRedisFromEnv({}), { mode: 'none' })
  })

  const bad: [Record<string, string>, RegExp][] = [
    [{ MODE: 'cluster' }, /MODE must be bundled, external or none, not "cluster"/],
    [{ MODE: 'external' }, /needs KUBE_SBC_DEFAULT_REDIS_URL or KUBE_SBC_DEFAULT_REDIS_SENTINEL_MASTER/],
    [{ MODE: 'external', URL: 'http://x' }, /must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ MODE: 'external', SENTINEL_MASTER: 'm' }, /SENTINELS must list the Sentinels/],
    [{ MODE: 'external', SENTINEL_MASTER: 'm', SENTINELS: 's1' }, /"s1" is not host:port/],
    [{ MODE: 'bundled', URL: 'redis://a:1', SENTINEL_MASTER: 'm' }, /mutually exclusive/],
    [{ MODE: 'bundled', URL: 'redis://a:1', PASSWORD_SECRET: 'only-a-name' }, /must be <namespace>\/<name>/],
  ]
  for (const [vars, message] of bad) {
    it(`rejects ${JSON.stringify(vars)} with SBC_ERR_OPERATOR_DEFAULT_REDIS`, () => {
      assert.throws(
        () => defaultRedisFromEnv(env(vars)),
        (e: unknown) =>
          e instanceof DefaultRedisConfigError &&
          e.code === 'SBC_ERR_OPERATOR_DEFAULT_REDIS' &&
          message.test(e.message),
      )
    })
  }
})

describe('kube-sbc operator with a malformed default', function () {
  this.timeout(60_000)
  it('exits 1 at start with a one-line error naming the variable, before contacting any API server', () => {
    const r = spawnSync(
      join(import.meta.dirname, '..', '..', 'bin', 'kube-sbc'),
      ['operator', '--http-port=0', '--kubeconfig=/nonexistent/kubeconfig'],
      {
        encoding: 'utf8',
        timeout: 30_000,
        env: { PATH: process.env.PATH ?? '', KUBE_SBC_DEFAULT_REDIS_MODE: 'external' },
      },
    )
    assert.equal(r.status, 1, r.stderr)
    assert.match(
      r.stderr,
      /^kube-sbc: KUBE_SBC_DEFAULT_REDIS_MODE=external needs KUBE_SBC_DEFAULT_REDIS_URL or KUBE_SBC_DEFAULT_REDIS_SENTINEL_MASTER\n$/,
    )
  })
})

describe('resolveRedis (pure)', () => {
  const sbc = (redis?: object) => ({
    apiVersion: 'sbc.kubesbc.io/v1alpha1',
    kind: 'SessionBorderController',
    metadata: { name: 'sbc1', namespace: 'uclab', uid: 'u1', generation: 3 },
    spec: redis === undefined ? {} : { redis },
  })
  const memory = DEFAULT_CONTROLLER_SETTINGS.redis
  const defaults = {
    mode: 'bundled' as const,
    url: 'redis://r:6379',
    passwordSecret: { namespace: 'kube-sbc', name: 'r-redis', key: 'redis-password' },
  }
  const source = { apiVersion: 'v1', kind: 'Secret', data: { 'redis-password': 'c2VjcmV0' } }

  it('mirrors the source password for an SBC naming no Redis', () => {
    const r = resolveRedis(sbc(), memory, defaults, source)
    assert.deepEqual(r.redis, {
      mode: 'url',
      url: 'redis://r:6379',
      sentinel: null,
      password: { secret: 'sbc1-redis-auth', key: 'password' },
    })
    assert.equal(r.condition.type, REDIS_CONDITION)
    assert.equal(r.condition.status, 'True')
    assert.equal(r.condition.observedGeneration, 3)
    assert.equal(r.mirror.action, 'apply')
    if (r.mirror.action !== 'apply') return
    assert.deepEqual(r.mirror.secret.data, { password: 'c2VjcmV0' })
    assert.equal(r.mirror.secret.metadata?.namespace, 'uclab')
    assert.ok(mirrorUpToDate(r.mirror.secret, r.mirror.secret))
    assert.ok(!mirrorUpToDate({ ...r.mirror.secret, data: { password: 'b3RoZXI=' } }, r.mirror.secret))
  })

  it('missing source or key: False naming the Secret, the mirror is kept', () => {
    const missing = resolveRedis(sbc(), memory, defaults, undefined)
    assert.equal(missing.condition.status, 'False')
    assert.match(missing.condition.message, /kube-sbc\/r-redis \(key redis-password\) does not exist/)
    assert.equal(missing.mirror.action, 'keep')
    const noKey = resolveRedis(sbc(), memory, defaults, { ...source, data: { other: 'eA==' } })
    assert.equal(noKey.condition.reason, 'InvalidSecret')
    assert.equal(noKey.mirror.action, 'keep')
  })

  it('an SBC with its own URL, its own password, or no default uses no mirror', () => {
    const own = { mode: 'url' as const, url: 'redis://mine:6379', sentinel: null, password: null }
    assert.deepEqual(resolveRedis(sbc({ url: 'redis://mine:6379' }), own, defaults, source).redis, own)
    assert.equal(
      resolveRedis(sbc({ url: 'redis://mine:6379' }), own, defaults, source).mirror.action,
      'delete',
    )
    const ownPassword = { ...memory, password: { secret: 'mine', key: 'password' } }
    const r = resolveRedis(sbc({ passwordSecretRef: { name: 'mine' } }), ownPassword, defaults, source)
    assert.deepEqual(r.redis.password, { secret: 'mine', key: 'password' })
    assert.equal(r.redis.url, 'redis://r:6379')
    assert.equal(r.mirror.action, 'delete')
    // A password in spec.redis.url never reaches the condition (status and Events).
    const inUrl = {
      mode: 'url' as const,
      url: 'redis://app:s3cret@mine:6379',
      sentinel: null,
      password: null,
    }
    const message = resolveRedis(sbc({ url: inUrl.url }), inUrl, defaults, source).condition.message
    assert.match(message, /redis:\/\/app:\*\*\*@mine:6379/)
    assert.doesNotMatch(message, /s3cret/)
    const none = resolveRedis(sbc(), memory, { mode: 'none' }, undefined)
    assert.equal(none.redis.mode, 'memory')
    assert.equal(none.condition.reason, 'InMemory')
  })
})
