import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { compile } from '../../lib/config/compile/compile.ts'
import { type StartedProcess, startProcess } from '../../test/harness/child-process.ts'
import { freePort } from '../../test/harness/free-port.ts'
import { startRedis, startSentinel, type TestRedis, type TestSentinel } from '../../test/harness/redis.ts'
import { configYaml, root, sbcPorts } from './harness.ts'

/**
 * Issue 4, Deliver 5: "Sentinel configuration supported", as a pod gets it — the snapshot's `redis`
 * section names the sentinels, the master and a password Secret, which the kubelet mounts under
 * KUBE_SBC_SECRETS_DIR (the directory the pod reads its TLS Secrets from). Sentinels commonly require
 * the same password as the master (Bitnami's Redis chart: auth.sentinel, on by default).
 */
describe('kube-sbc signalling: Redis through Sentinel with a password Secret', function () {
  this.timeout(60_000)
  const password = 'sentinel-and-master-secret'
  let redis: TestRedis
  let sentinel: TestSentinel
  let dir: string
  let proc: StartedProcess | undefined

  before(async () => {
    redis = await startRedis({ password })
    sentinel = await startSentinel(redis.port, 'sbc', { password })
    dir = await mkdtemp(join(tmpdir(), 'sbc-sentinel-pod-'))
  })
  after(async () => {
    await proc?.stop(3000)
    await sentinel?.close()
    await redis?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('connects with the mounted password and becomes ready', async () => {
    const ports = await sbcPorts()
    const yaml = configYaml(ports, await freePort(), await freePort(), 'UDP')
      .replace(
        'spec:\n  security:',
        `spec:\n  redis:\n    sentinel: { masterName: ${sentinel.name}, addresses: ["127.0.0.1:${sentinel.port}"] }\n    passwordSecretRef: { name: redis-auth }\n  security:`,
      )
      .concat(
        `\n---\napiVersion: v1\nkind: Secret\nmetadata: { name: redis-auth, namespace: default }\ndata: { password: ${Buffer.from(password).toString('base64')} }\n`,
      )
    const { config } = compile(
      parseAllDocuments(yaml).map((d) => d.toJS()),
      { generation: 1 },
    )
    assert.equal(config.redis.mode, 'sentinel', JSON.stringify(config.redis))
    await writeFile(join(dir, 'snapshot.json'), JSON.stringify(config))
    const mount = join(dir, 'secrets')
    await mkdir(join(mount, 'redis-auth'), { recursive: true })
    await writeFile(join(mount, 'redis-auth', 'password'), `${password}\n`)
    proc = startProcess(
      join(root, 'bin', 'kube-sbc'),
      ['signalling', '--config', join(dir, 'snapshot.json'), '--no-media', '--http-port', String(ports.http)],
      { env: { ...process.env, KUBE_SBC_SECRETS_DIR: mount, POD_NAME: `pod-${ports.pbx}` } },
    )
    await proc.waitForOutput(/Started signalling/, 20_000)
    let status = 0
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await fetch(`http://127.0.0.1:${ports.http}/readyz`)).status
      if (status !== 200) await new Promise((r) => setTimeout(r, 100))
    }
    assert.equal(status, 200, `/readyz (Redis through Sentinel): ${proc.output().slice(-2000)}`)
  })
})

/**
 * The media pod reads the same mounted password Secret, from the same directory
 * (KUBE_SBC_SECRETS_DIR): its dialog store is the signalling pods' Redis (runtime contract).
 */
describe('kube-sbc media: Redis through Sentinel with a password Secret under KUBE_SBC_SECRETS_DIR', function () {
  this.timeout(60_000)
  const password = 'media-pod-redis-secret'
  let redis: TestRedis
  let sentinel: TestSentinel
  let dir: string
  let proc: StartedProcess | undefined

  before(async () => {
    redis = await startRedis({ password })
    sentinel = await startSentinel(redis.port, 'sbc', { password })
    dir = await mkdtemp(join(tmpdir(), 'sbc-sentinel-media-'))
  })
  after(async () => {
    await proc?.stop(3000)
    await sentinel?.close()
    await redis?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('connects with the mounted password and becomes ready', async () => {
    const ports = await sbcPorts()
    const yaml = configYaml(ports, await freePort(), await freePort(), 'UDP')
      .replace(
        'spec:\n  security:',
        `spec:\n  redis:\n    sentinel: { masterName: ${sentinel.name}, addresses: ["127.0.0.1:${sentinel.port}"] }\n    passwordSecretRef: { name: redis-auth }\n  security:`,
      )
      .concat(
        `\n---\napiVersion: v1\nkind: Secret\nmetadata: { name: redis-auth, namespace: default }\ndata: { password: ${Buffer.from(password).toString('base64')} }\n`,
      )
    const { config } = compile(
      parseAllDocuments(yaml).map((d) => d.toJS()),
      { generation: 1 },
    )
    assert.equal(config.redis.mode, 'sentinel', JSON.stringify(config.redis))
    await writeFile(join(dir, 'snapshot.json'), JSON.stringify(config))
    const mount = join(dir, 'secrets')
    await mkdir(join(mount, 'redis-auth'), { recursive: true })
    await writeFile(join(mount, 'redis-auth', 'password'), `${password}\n`)
    const ngPort = await freePort()
    proc = startProcess(
      join(root, 'bin', 'kube-sbc'),
      [
        'media',
        '--config',
        join(dir, 'snapshot.json'),
        '--ng-host',
        '127.0.0.1',
        '--ng-port',
        String(ngPort),
        '--workers',
        '0',
        '--http-port',
        String(ports.http),
      ],
      { env: { ...process.env, KUBE_SBC_SECRETS_DIR: mount, POD_NAME: `media-${ports.pbx}` } },
    )
    let exited = false
    void proc.exited.then(() => {
      exited = true
    })
    let status = 0
    for (let i = 0; i < 200 && status !== 200 && !exited; i++) {
      status = await fetch(`http://127.0.0.1:${ports.http}/readyz`).then(
        (r) => r.status,
        () => 0,
      )
      if (status !== 200) await new Promise((r) => setTimeout(r, 100))
    }
    assert.equal(status, 200, `/readyz (Redis through Sentinel): ${proc.output().slice(-2000)}`)
  })
})
