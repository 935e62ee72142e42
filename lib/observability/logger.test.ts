import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { createLogger } from './create-logger.ts'
import { lazyChild } from './logger.ts'

function capture(level: string) {
  const out = new PassThrough()
  let text = ''
  out.on('data', (d: Buffer) => {
    text += d.toString()
  })
  const logger = createLogger({ level, destination: out })
  return {
    logger,
    lines: () =>
      text
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  }
}

const tick = () => new Promise((r) => setImmediate(r))

describe('lazyChild', () => {
  it('writes enabled lines with the bindings of every level of children', async () => {
    const { logger, lines } = capture('info')
    const log = lazyChild(logger, { callId: 'c1' }).child({ dialogId: 'd1' })
    log.info({ status: 200 }, 'Answered call')
    log.debug({ x: 1 }, 'not written at info')
    await tick()
    const got = lines()
    assert.equal(got.length, 1)
    assert.equal(got[0]?.callId, 'c1')
    assert.equal(got[0]?.dialogId, 'd1')
    assert.equal(got[0]?.status, 200)
    assert.equal(got[0]?.msg, 'Answered call')
  })

  it('never builds the pino child when nothing is enabled', async () => {
    const { logger, lines } = capture('warn')
    let built = 0
    const counting = {
      ...logger,
      isLevelEnabled: (l: string) =>
        (logger as unknown as { isLevelEnabled(l: string): boolean }).isLevelEnabled(l),
      child: (b: Record<string, unknown>) => {
        built++
        return logger.child(b)
      },
    }
    const log = lazyChild(counting, { callId: 'c1' })
    log.info({}, 'quiet')
    log.debug({}, 'quiet')
    assert.equal(built, 0)
    log.warn({ why: 'x' }, 'loud')
    log.warn({ why: 'y' }, 'loud again')
    await tick()
    assert.equal(built, 1, 'built once, on the first enabled line')
    assert.deepEqual(
      lines().map((l) => [l.callId, l.why]),
      [
        ['c1', 'x'],
        ['c1', 'y'],
      ],
    )
  })
})
