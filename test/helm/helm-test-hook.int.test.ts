import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { type StartedProcess, startProcess } from '../harness/child-process.ts'
import { freePort } from '../harness/free-port.ts'
import { find, type K8sObject, render } from './chart.ts'
import { repoRoot } from './helm-binary.ts'

/**
 * The `helm test` hook, as far as it can run without a cluster. Under kwok no Pod ever runs, so
 * here the hook Pod's container command line is taken verbatim from `helm template` and executed
 * as a local process (its `node` is this Node 24, as in the image), against a real
 * `kube-sbc run` started the way the image's ENTRYPOINT starts it (`bin/kube-sbc run ...`),
 * with examples/local (whose RoutingRule answer-options replies 200) on free loopback ports. What
 * differs from the cluster is only the address: the Service DNS name is replaced by 127.0.0.1 and
 * the Service port by the listener's port. The rendered Pod itself is validated by
 * `kubectl apply --dry-run=server` in chart.int.test.ts.
 */

interface HookCommand {
  argv: string[]
  env: Record<string, string>
}

function hookCommand(transport: 'udp' | 'tcp', timeoutSeconds: number): HookCommand {
  const pod = find(
    render({
      set: [
        'helmTest.target.service=sbc1-pbx-side',
        'helmTest.target.namespace=uclab',
        'helmTest.target.port=5060',
        `helmTest.target.transport=${transport}`,
        `helmTest.target.timeoutSeconds=${timeoutSeconds}`,
      ],
    }).filter((o: K8sObject) => o.metadata.annotations?.['helm.sh/hook'] === 'test'),
    'Pod',
  )
  const c = pod.spec.containers[0]
  const env: Record<string, string> = {}
  for (const e of c.env) env[e.name] = e.value
  assert.equal(env.SIP_TARGET_HOST, 'sbc1-pbx-side.uclab.svc')
  return { argv: c.command, env }
}

/** Runs the hook's command line with the target moved to 127.0.0.1:`port`. */
async function runHook(
  h: HookCommand,
  port: number,
): Promise<{ code: number | string | null; output: string }> {
  const [cmd, ...args] = h.argv
  assert.equal(cmd, 'node', 'the hook runs the image node')
  const p = startProcess(cmd, args, {
    env: {
      // `node` resolves to this Node 24 (the image's version) through PATH.
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      ...h.env,
      SIP_TARGET_HOST: '127.0.0.1',
      SIP_TARGET_PORT: String(port),
    },
  })
  const code = await p.exited
  return { code, output: p.output() }
}

describe('helm test hook: its command line against a real kube-sbc run', function () {
  this.timeout(60_000)
  let sbc: StartedProcess | undefined
  let dir = ''
  let port = 0

  before(async () => {
    port = await freePort()
    const carrier = await freePort()
    const http = await freePort()
    dir = await mkdtemp(join(tmpdir(), 'kube-sbc-helm-test-'))
    const yaml = (await readFile(join(repoRoot, 'examples', 'local', 'local.yaml'), 'utf8'))
      .replaceAll('port: 15060', `port: ${port}`)
      .replaceAll('port: 25060', `port: ${carrier}`)
    assert.ok(yaml.includes(`port: ${port}`))
    await writeFile(join(dir, 'local.yaml'), yaml)
    sbc = startProcess(
      join(repoRoot, 'bin', 'kube-sbc'),
      ['run', '-f', dir, '--no-media', '--http-port', String(http)],
      { env: { ...process.env, POD_NAME: `helm-test-${port}` } },
    )
    await sbc.waitForOutput(/Started signalling/, 30_000)
  })

  after(async () => {
    await sbc?.stop(3000)
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  for (const transport of ['udp', 'tcp'] as const) {
    it(`${transport.toUpperCase()}: passes on the SBC's 200 to OPTIONS`, async () => {
      const r = await runHook(hookCommand(transport, 5), port)
      assert.equal(r.code, 0, r.output)
      assert.match(r.output, new RegExp(`OK 127\\.0\\.0\\.1:${port}/${transport} answered 200`))
    })

    it(`${transport.toUpperCase()}: fails against a closed port`, async () => {
      const closed = await freePort()
      const r = await runHook(hookCommand(transport, 2), closed)
      assert.equal(r.code, 1, r.output)
      assert.match(r.output, new RegExp(`sip-options-probe: FAIL 127\\.0\\.0\\.1:${closed}/${transport}`))
    })
  }
})
