import { freePort } from '../../test/harness/free-port.ts'
import { both, call, type Sbc, sbcPorts, scenario, startSbc } from './harness.ts'

/** Signalling only: SDP passes through (media anchoring has its own tests). */
const NO_MEDIA = ['--no-media']

/**
 * In-dialog requests in both directions through kube-sbc run (RFC 3261 §12.2): the caller's INFO
 * (RFC 6086), UPDATE with SDP (RFC 3311) and OPTIONS (§11), then the callee's re-INVITE (hold),
 * UPDATE, INFO and OPTIONS, each relayed on the other leg with that leg's dialog identifiers and
 * CSeq, answered 200 end to end; then the caller's BYE. Bodies and Accept are checked at the far end.
 */
for (const transport of ['UDP', 'TCP'] as const) {
  describe(`In-dialog requests both ways through kube-sbc run, ${transport}`, function () {
    this.timeout(40_000)
    let sbc: Sbc
    let uacPort: number
    let uasPort: number

    before(async () => {
      uacPort = await freePort()
      uasPort = await freePort()
      sbc = await startSbc(await sbcPorts(), uacPort, uasPort, { extra: NO_MEDIA, transport })
    })
    after(async () => sbc?.close())

    it('relays INFO, UPDATE, OPTIONS from the caller and re-INVITE, UPDATE, INFO, OPTIONS from the callee', async () => {
      const c = await call(sbc.ports.pbx, uacPort, uasPort, {
        uac: await scenario('uac-in-dialog.xml'),
        uas: await scenario('uas-in-dialog.xml'),
        transport: transport === 'UDP' ? 'u1' : 't1',
      })
      await both(c, 1)
    })
  })
}
