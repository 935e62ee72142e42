import assert from 'node:assert/strict'
import { ConnectionTable } from './connection-table.ts'

const conn = (id: string, remoteAddress: string, remotePort: number) => ({ id, remoteAddress, remotePort })

describe('ConnectionTable', () => {
  it('finds a connection a peer opened to us by its source address and port', () => {
    const t = new ConnectionTable()
    const c = conn('1', '192.0.2.1', 40000)
    t.add(c)
    assert.equal(t.find('192.0.2.1', 40000), c)
    assert.equal(t.find('192.0.2.1', 5060), undefined)
  })

  it('prefers the connection pinned by id, then falls back to the flow alias', () => {
    const t = new ConnectionTable()
    const a = conn('a', '192.0.2.1', 1)
    const b = conn('b', '192.0.2.1', 1)
    t.add(a)
    t.add(b)
    assert.equal(t.find('192.0.2.1', 1, 'a'), a)
    assert.equal(t.find('192.0.2.1', 1, 'gone'), b)
  })

  it('counts connections per remote address and forgets removed ones', () => {
    const t = new ConnectionTable()
    const a = conn('a', '192.0.2.1', 1)
    const b = conn('b', '192.0.2.1', 2)
    t.add(a)
    t.add(b)
    assert.equal(t.countFrom('192.0.2.1'), 2)
    t.remove(a)
    t.remove(a)
    assert.equal(t.countFrom('192.0.2.1'), 1)
    assert.equal(t.find('192.0.2.1', 1), undefined)
    t.remove(b)
    assert.equal(t.countFrom('192.0.2.1'), 0)
    assert.equal(t.size, 0)
  })

  it('keeps the newer alias when an older connection to the same flow closes', () => {
    const t = new ConnectionTable()
    const a = conn('a', '192.0.2.1', 1)
    const b = conn('b', '192.0.2.1', 1)
    t.add(a)
    t.add(b)
    t.remove(a)
    assert.equal(t.find('192.0.2.1', 1), b)
  })
})
