import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SbcConfig } from '../../lib/config/model.ts'
import { parseConfig } from '../../lib/config/validate.ts'
import { nullLogger } from '../../lib/observability/logger.ts'
import { eventually } from '../../test/control-plane/eventually.ts'
import { emptyConfig } from './config-reconciler.ts'
import { fileSource } from './config-sources.ts'

describe('fileSource', () => {
  it('applies the file, then each changed version on write and on SIGHUP; a broken file keeps the running one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sbc-cfg-'))
    const file = join(dir, 'config.json')
    const write = (c: SbcConfig | string) => writeFile(file, typeof c === 'string' ? c : JSON.stringify(c))
    await write({ ...emptyConfig(), generation: 1 })
    const applied: number[] = []
    const source = fileSource([file], () => parseConfig(readFileSync(file, 'utf8')))
    try {
      await source.start(async (c) => {
        applied.push(c.generation)
      }, nullLogger)
      assert.deepEqual(applied, [1])
      await write({ ...emptyConfig(), generation: 2, namespace: 'x' })
      await eventually(() => assert.deepEqual(applied, [1, 2]))
      await write('{ not json')
      process.kill(process.pid, 'SIGHUP')
      await write({ ...emptyConfig(), generation: 3, namespace: 'y' })
      process.kill(process.pid, 'SIGHUP')
      await eventually(() => assert.deepEqual(applied, [1, 2, 3]))
    } finally {
      await source.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
