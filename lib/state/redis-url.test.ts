import assert from 'node:assert/strict'
import { redact, redisOptionsFromUrl } from './redis-url.ts'

describe('redisOptionsFromUrl', () => {
  it('reads redis:// with credentials, port and database', () => {
    assert.deepEqual(redisOptionsFromUrl('redis://app:p%40ss@10.0.0.5:6380/2'), {
      username: 'app',
      password: 'p@ss',
      host: '10.0.0.5',
      port: 6380,
      db: 2,
    })
    assert.deepEqual(redisOptionsFromUrl('redis://:secret@[::1]'), {
      password: 'secret',
      host: '::1',
      port: 6379,
    })
  })

  it('turns on TLS for rediss://', () => {
    assert.deepEqual(redisOptionsFromUrl('rediss://redis.example.com'), {
      host: 'redis.example.com',
      port: 6379,
      tls: { servername: 'redis.example.com' },
    })
  })

  it('reads the Sentinel form: sentinels, master name, database, sentinel password', () => {
    assert.deepEqual(redisOptionsFromUrl('redis-sentinel://:pw@s1:26380,s2/mymaster/1?sentinelPassword=sp'), {
      password: 'pw',
      name: 'mymaster',
      db: 1,
      sentinels: [
        { host: 's1', port: 26380 },
        { host: 's2', port: 26379 },
      ],
      sentinelPassword: 'sp',
    })
  })

  const bad = ['http://x', 'redis://host:0', 'redis://host/abc', 'redis-sentinel://s1', 'nonsense']
  for (const url of bad)
    it(`rejects ${url} with SBC_ERR_STATE_INVALID`, () => {
      assert.throws(() => redisOptionsFromUrl(url), { code: 'SBC_ERR_STATE_INVALID' })
    })

  it('redacts passwords', () => {
    assert.equal(redact('redis://u:secret@h:1/0'), 'redis://u:***@h:1/0')
    assert.equal(
      redact('redis-sentinel://s/m?sentinelPassword=x'),
      'redis-sentinel://s/m?sentinelPassword=***',
    )
  })
})
