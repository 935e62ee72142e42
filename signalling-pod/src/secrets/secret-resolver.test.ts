import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DEFAULT_SECRETS_DIR,
  defaultSecretsDir,
  fileSecretResolver,
  objectSecretResolver,
  SecretError,
} from './secret-resolver.ts'

const code = (c: string) => (e: unknown) => e instanceof SecretError && e.code === c

describe('secret resolvers', () => {
  it('reads mounted files at <dir>/<secret>/<key>, with stable codes for missing, empty and escaping refs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sbc-secrets-'))
    try {
      await mkdir(join(dir, 'sbc1-tls'))
      await writeFile(join(dir, 'sbc1-tls', 'tls.crt'), 'PEM')
      await writeFile(join(dir, 'sbc1-tls', 'tls.key'), '')
      const r = fileSecretResolver(dir)
      assert.equal(r.read({ secret: 'sbc1-tls', key: 'tls.crt' }).toString(), 'PEM')
      assert.throws(() => r.read({ secret: 'sbc1-tls', key: 'ca.crt' }), code('SBC_ERR_SECRET_NOT_FOUND'))
      assert.throws(() => r.read({ secret: 'other', key: 'tls.crt' }), code('SBC_ERR_SECRET_NOT_FOUND'))
      assert.throws(() => r.read({ secret: 'sbc1-tls', key: 'tls.key' }), code('SBC_ERR_SECRET_INVALID'))
      assert.throws(() => r.read({ secret: '..', key: 'passwd' }), code('SBC_ERR_SECRET_NOT_FOUND'))
      assert.throws(() => r.read({ secret: 'sbc1-tls', key: '../x' }), code('SBC_ERR_SECRET_NOT_FOUND'))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('takes the directory from KUBE_SBC_SECRETS_DIR, else the runtime contract path', () => {
    assert.equal(defaultSecretsDir({}), DEFAULT_SECRETS_DIR)
    assert.equal(defaultSecretsDir({ KUBE_SBC_SECRETS_DIR: '/tmp/x' }), '/tmp/x')
  })

  it('reads v1 Secrets of the input objects: data base64, stringData winning, other kinds ignored', () => {
    const r = objectSecretResolver([
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'a' },
        data: { 'tls.crt': Buffer.from('X').toString('base64') },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'b' },
        data: { k: Buffer.from('old').toString('base64') },
        stringData: { k: 'new' },
      },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { k: 'v' } },
      null,
    ])
    assert.equal(r.read({ secret: 'a', key: 'tls.crt' }).toString(), 'X')
    assert.equal(r.read({ secret: 'b', key: 'k' }).toString(), 'new')
    assert.throws(() => r.read({ secret: 'c', key: 'k' }), code('SBC_ERR_SECRET_NOT_FOUND'))
    assert.throws(() => r.read({ secret: 'a', key: 'tls.key' }), code('SBC_ERR_SECRET_NOT_FOUND'))
  })
})
