import assert from 'node:assert/strict'
import { type StartedProcess, startProcess } from '../../../test/harness/child-process.ts'
import { freePort } from '../../../test/harness/free-port.ts'
import { createDnsResolver } from './resolver.ts'

/**
 * The call-time resolver against a real DNS server (dnsmasq on loopback, answering only from its
 * arguments with TTL 30 s): SRV in priority order with each target's address, A records, and the
 * TTL cache — answers keep being served after the server is gone until their TTL (on the
 * resolver's clock) runs out, then the lookup fails.
 */
describe('DNS resolver against dnsmasq (RFC 3263 SRV/A, TTL cache)', function () {
  this.timeout(30_000)
  let dns: StartedProcess | undefined
  let port: number

  before(async () => {
    port = await freePort()
    dns = startProcess('dnsmasq', [
      '--no-daemon',
      '--no-resolv',
      '--no-hosts',
      '--conf-file=/dev/null',
      '--pid-file=',
      '--user=',
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '-p',
      String(port),
      '--local-ttl=30',
      '--srv-host=_sips._tcp.webex.test,peering2.webex.test,5062,20,10',
      '--srv-host=_sips._tcp.webex.test,peering1.webex.test,5062,10,10',
      '--host-record=peering1.webex.test,127.0.0.11',
      '--host-record=peering2.webex.test,127.0.0.12',
      '--host-record=twilio.test,127.0.0.21',
      // NAPTR (RFC 3263 §4.1) pointing TLS at another SRV owner; a UDP record must not be used for TLS.
      '--naptr-record=naptr.test,10,50,s,SIP+D2U,,_sip._udp.udp.test',
      '--naptr-record=naptr.test,20,50,s,SIPS+D2T,,_sips._tcp.edge.test',
      '--srv-host=_sips._tcp.edge.test,peering3.webex.test,5063,10,10',
      '--srv-host=_sips._tcp.naptr.test,peering1.webex.test,5062,10,10',
      '--host-record=peering3.webex.test,127.0.0.13',
      // A domain with addresses and no SRV (nor NAPTR) records: dnsmasq is authoritative for
      // plain.test, so it answers NXDOMAIN/no data rather than REFUSED.
      '--local=/plain.test/',
      '--host-record=plain.test,127.0.0.31',
    ])
    await dns.waitForOutput(/started, version/, 10_000)
  })
  after(async () => {
    await dns?.stop(2000)
  })

  it('follows the NAPTR record of the transport to its SRV owner (RFC 3263 §4.1)', async () => {
    const resolve = createDnsResolver({ servers: [`127.0.0.1:${port}`], timeoutMs: 300 })
    assert.deepEqual(
      (await resolve('naptr.test', 'SRV', 'TLS')).map((a) => `${a.address}:${a.port}`),
      ['127.0.0.13:5063'],
    )
  })

  it('falls back to the A records of a domain without SRV records, at the default port (RFC 3263 §4.2)', async () => {
    const resolve = createDnsResolver({ servers: [`127.0.0.1:${port}`], timeoutMs: 300 })
    assert.deepEqual(
      (await resolve('plain.test', 'SRV', 'TLS')).map((a) => `${a.address}:${a.port}`),
      ['127.0.0.31:5061'],
    )
    assert.deepEqual(
      (await resolve('plain.test', 'SRV', 'UDP')).map((a) => `${a.address}:${a.port}`),
      ['127.0.0.31:5060'],
    )
    // No answer at all (dnsmasq refuses a name it does not serve) is a failure, not "no records".
    await assert.rejects(resolve('elsewhere.example', 'SRV', 'UDP'), { code: 'EREFUSED' })
  })

  it('orders SRV targets by priority, resolves A records, and serves both from cache until the TTL ends', async () => {
    let now = 1_000_000
    const resolve = createDnsResolver({ servers: [`127.0.0.1:${port}`], timeoutMs: 300, now: () => now })
    const srv = await resolve('webex.test', 'SRV', 'TLS')
    assert.deepEqual(
      srv.map((a) => `${a.address}:${a.port}`),
      ['127.0.0.11:5062', '127.0.0.12:5062'],
    )
    assert.deepEqual(
      (await resolve('twilio.test', 'A', 'TLS')).map((a) => a.address),
      ['127.0.0.21'],
    )
    await dns?.stop(2000)
    dns = undefined
    now += 20_000
    assert.deepEqual(
      (await resolve('webex.test', 'SRV', 'TLS')).map((a) => a.address),
      ['127.0.0.11', '127.0.0.12'],
      'within the TTL: from the cache',
    )
    assert.deepEqual(
      (await resolve('twilio.test', 'A', 'TLS')).map((a) => a.address),
      ['127.0.0.21'],
    )
    now += 15_000
    await assert.rejects(
      resolve('webex.test', 'SRV', 'TLS'),
      'past the TTL the server is asked again, and it is gone',
    )
    assert.deepEqual(await resolve('twilio.test', 'A', 'TLS'), [], 'no address once the answer expired')
  })
})
