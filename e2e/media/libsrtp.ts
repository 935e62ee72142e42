import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

/** The libsrtp peer (lib/media/fixtures/libsrtp-peer.py, pylibsrtp) as a JSON-lines child. */
export class Libsrtp {
  private readonly child = spawn('/usr/bin/python3', ['lib/media/fixtures/libsrtp-peer.py'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  private readonly lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]()
  async ready(): Promise<void> {
    await this.lines.next()
  }
  async call(req: Record<string, string>): Promise<{ ok: boolean; packet?: string; error?: string }> {
    this.child.stdin.write(`${JSON.stringify(req)}\n`)
    const { value } = await this.lines.next()
    return JSON.parse(String(value))
  }
  /** An SRTP session `id` (`inbound`: unprotect what a peer sent with `key`; `outbound`: protect). */
  async session(id: string, profile: string, key: Buffer, direction: 'inbound' | 'outbound'): Promise<void> {
    const r = await this.call({ op: 'session', id, profile, key: key.toString('hex'), direction })
    if (!r.ok) throw new Error(`libsrtp session ${id}: ${r.error}`)
  }
  async protect(id: string, packet: Buffer): Promise<Buffer> {
    const r = await this.call({ op: 'protect', id, packet: packet.toString('hex') })
    if (!r.ok) throw new Error(`libsrtp protect: ${r.error}`)
    return Buffer.from(r.packet as string, 'hex')
  }
  async unprotect(id: string, packet: Buffer): Promise<Buffer> {
    const r = await this.call({ op: 'unprotect', id, packet: packet.toString('hex') })
    if (!r.ok) throw new Error(`libsrtp unprotect: ${r.error}`)
    return Buffer.from(r.packet as string, 'hex')
  }
  close(): void {
    this.child.stdin.end()
  }
}
