import { strict as assert } from 'node:assert'
import type { ProfileConfig, SbcConfig } from '../../../lib/config/model.ts'
import { NgServerTransport } from '../../../lib/media/control/ng-server-transport.ts'
import { PortAllocator } from '../../../lib/media/relay/port-allocator.ts'
import type { DialogState } from '../../../lib/sip/dialog/dialog-state.ts'
import { MemoryStore } from '../../../lib/state/memory-store.ts'
import { MediaNgHandler, type RealmRuntime } from '../../../media-pod/src/ng-handler.ts'
import { DgramRelayBackend } from '../../../media-pod/src/relay/dgram-relay.ts'
import { MediaAnchor, MediaAnchorError, MediaSrtpRequiredError } from './media-anchor.ts'

function profile(
  name: string,
  mode: ProfileConfig['srtp']['mode'],
  extra: Partial<ProfileConfig> = {},
): ProfileConfig {
  return {
    name,
    srtp: { mode, cryptoSuites: mode === 'Off' ? [] : ['AES_CM_128_HMAC_SHA1_80'] },
    iceLite: false,
    rtcpMux: false,
    symmetricRtp: true,
    codecs: [
      { name: 'PCMA', payloadType: 8, clockRate: 8000, channels: 1, ptime: 20 },
      { name: 'PCMU', payloadType: 0, clockRate: 8000, channels: 1, ptime: 20 },
      { name: 'opus', payloadType: 111, clockRate: 48000, channels: 2, ptime: 20 },
    ],
    identity: { assertedIdentity: 'Passthrough', privacy: 'Passthrough' },
    sessionTimer: { enabled: false, sessionExpiresSeconds: 1800, minSESeconds: 90, refresher: 'Auto' },
    ...extra,
  }
}

const config = {
  realms: [],
  profiles: [
    profile('optional', 'Optional'),
    profile('mandatory', 'Mandatory'),
    profile('off', 'Off', { rtcpMux: true }),
  ],
  groups: [
    { name: 'carrier', profile: 'mandatory', mediaRealm: 'wan' },
    { name: 'pbx', profile: 'optional', mediaRealm: 'lan' },
    { name: 'legacy', profile: 'off', mediaRealm: 'lan' },
  ],
} as unknown as SbcConfig

function call(id: string, a: string, b: string): DialogState {
  return { id, a: { ipGroup: a }, b: { ipGroup: b } } as unknown as DialogState
}

const sdp = (port: number, extra: string[] = [], proto = 'RTP/AVP') =>
  Buffer.from(
    [
      'v=0',
      'o=- 1 1 IN IP4 192.0.2.10',
      's=-',
      'c=IN IP4 192.0.2.10',
      't=0 0',
      `m=audio ${port} ${proto} 0 8 18 101`,
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:8 PCMA/8000',
      'a=rtpmap:18 G729/8000',
      'a=rtpmap:101 telephone-event/8000',
      ...extra,
      '',
    ].join('\r\n'),
  )

describe('MediaAnchor → NG → media pod handler', () => {
  let ng: NgServerTransport
  let handler: MediaNgHandler
  let store: MemoryStore
  let anchor: MediaAnchor
  const fallback = new DgramRelayBackend()

  before(async () => {
    const realms = new Map<string, RealmRuntime>(
      (
        [
          ['lan', 41000],
          ['wan', 42000],
        ] as const
      ).map(([name, min]) => [
        name,
        {
          name,
          bindAddress: '127.0.0.1',
          advertisedAddress: name === 'wan' ? '203.0.113.5' : '127.0.0.1',
          allocator: new PortAllocator({ min, max: min + 99 }, { quarantineMs: 0 }),
          maxSessions: 100,
        },
      ]),
    )
    handler = new MediaNgHandler({ realms, defaultRealm: 'lan', native: null, fallback })
    ng = await NgServerTransport.listen({ host: '127.0.0.1', port: 0, handler })
    store = new MemoryStore()
    await store.registerMediaPod(
      {
        id: 'media-1',
        address: `127.0.0.1:${ng.address().port}`,
        realms: ['lan', 'wan'],
        capacity: 100,
        active: 0,
      },
      60_000,
    )
    anchor = new MediaAnchor({ config: () => config, store, retransmitMs: 100 })
  })
  after(async () => {
    await anchor.close()
    await ng.close()
    handler.close()
    await store.close()
  })

  it('SRTP Mandatory toward the carrier: RTP/SAVP with our crypto, codecs filtered and ordered, ptime', async () => {
    const c = call('c1', 'pbx', 'carrier')
    const out = (await anchor.onOffer(c, 'a', sdp(5000))).toString()
    assert.match(out, /m=audio 420\d\d RTP\/SAVP 8 0 101\r\n/)
    assert.match(out, /a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:/)
    assert.match(out, /c=IN IP4 203\.0\.113\.5/)
    assert.doesNotMatch(out, /G729|192\.0\.2\.10/)
    assert.match(out, /a=ptime:20/)
    assert.deepEqual(c.media, { pod: 'media-1', ngCallId: 'c1', fromTag: 'a' })
    const tag = /a=crypto:(\d+) (\S+)/.exec(out)
    const answer = (
      await anchor.onAnswer(
        c,
        'b',
        sdp(
          6000,
          [`a=crypto:${tag?.[1]} AES_CM_128_HMAC_SHA1_80 inline:${Buffer.alloc(30, 7).toString('base64')}`],
          'RTP/SAVP',
        ),
      )
    ).toString()
    assert.match(answer, /m=audio 410\d\d RTP\/AVP /)
    assert.doesNotMatch(answer, /a=crypto/)
    assert.equal(c.media?.toTag, 'b')
    await anchor.onTerminate(c)
    assert.equal(handler.sessionCount, 0)
  })

  it("offers opus on the profile's payload type 111 whatever the caller used; the answer goes back in the caller's numbers", async () => {
    const c = call('c-opus', 'pbx', 'legacy')
    const offer = Buffer.from(
      [
        'v=0',
        'o=- 1 1 IN IP4 192.0.2.10',
        's=-',
        'c=IN IP4 192.0.2.10',
        't=0 0',
        'm=audio 5000 RTP/AVP 96 0 101',
        'a=rtpmap:96 opus/48000/2',
        'a=fmtp:96 useinbandfec=1',
        'a=rtpmap:0 PCMU/8000',
        'a=rtpmap:101 telephone-event/8000',
        '',
      ].join('\r\n'),
    )
    const out = (await anchor.onOffer(c, 'a', offer)).toString()
    // The legacy profile orders PCMA, PCMU, opus; opus moves to 111 with its fmtp.
    assert.match(out, /m=audio 410\d\d RTP\/AVP 0 111 101\r\n/)
    assert.match(out, /a=rtpmap:111 opus\/48000\/2\r\na=fmtp:111 useinbandfec=1\r\n/)
    assert.doesNotMatch(out, /:96 /)
    const answer = (
      await anchor.onAnswer(
        c,
        'b',
        Buffer.from(
          [
            'v=0',
            'o=- 2 1 IN IP4 192.0.2.20',
            's=-',
            'c=IN IP4 192.0.2.20',
            't=0 0',
            'm=audio 6000 RTP/AVP 111 101',
            'a=rtpmap:111 opus/48000/2',
            'a=rtpmap:101 telephone-event/8000',
            'a=rtcp-mux',
            '',
          ].join('\r\n'),
        ),
      )
    ).toString()
    assert.match(answer, /m=audio 410\d\d RTP\/AVP 96 101\r\n/, "the caller's own opus number")
    assert.match(answer, /a=rtpmap:96 opus\/48000\/2/)
    await anchor.onTerminate(c)
  })

  it('an offer without a=crypto from a Mandatory leg is a typed 488', async () => {
    const c = call('c2', 'carrier', 'pbx')
    await assert.rejects(anchor.onOffer(c, 'a', sdp(5000)), (e: unknown) => {
      assert.ok(e instanceof MediaSrtpRequiredError)
      assert.equal(e.sipStatus, 488)
      assert.equal(e.code, 'SBC_ERR_MEDIA_SRTP_REQUIRED')
      return true
    })
    assert.equal(handler.sessionCount, 0)
  })

  it('a Mandatory leg offering a=crypto on RTP/AVP (RFC 8643 best-effort SRTP) is a typed 488, not plain RTP', async () => {
    // The media pod keys SRTP on RTP/SAVP only: taken, this offer would be answered RTP/AVP without
    // a=crypto, and the leg the profile says must be SRTP would carry plain RTP.
    const key = `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${Buffer.alloc(30, 3).toString('base64')}`
    const c = call('c-osrtp', 'carrier', 'pbx')
    await assert.rejects(anchor.onOffer(c, 'a', sdp(5000, [key], 'RTP/AVP')), (e: unknown) => {
      assert.ok(e instanceof MediaSrtpRequiredError, String(e))
      assert.equal(e.sipStatus, 488)
      return true
    })
    assert.equal(handler.sessionCount, 0)
    // Its answer likewise: an SRTP-mandatory callee answering RTP/AVP gets no plain leg either.
    const d = call('c-osrtp-answer', 'pbx', 'carrier')
    const toCarrier = (await anchor.onOffer(d, 'a', sdp(5000))).toString()
    const tag = /a=crypto:(\d+) (\S+)/.exec(toCarrier)
    await assert.rejects(
      anchor.onAnswer(
        d,
        'b',
        sdp(6000, [`a=crypto:${tag?.[1]} ${tag?.[2]} ${key.split(' ')[2]}`], 'RTP/AVP'),
      ),
      (e: unknown) => e instanceof MediaSrtpRequiredError && e.sipStatus === 488,
    )
    await anchor.release(d)
    assert.equal(handler.sessionCount, 0)
  })

  it('Optional passes SRTP through when offered, Off forces RTP/AVP; rtcp-mux where the profile asks', async () => {
    const key = `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${Buffer.alloc(30, 1).toString('base64')}`
    const c = call('c3', 'carrier', 'pbx')
    const toPbx = (await anchor.offer(c, 'a', sdp(5000, [key], 'RTP/SAVP'))).toString()
    assert.match(toPbx, /RTP\/SAVP/)
    assert.doesNotMatch(
      toPbx,
      new RegExp(Buffer.alloc(30, 1).toString('base64').replace(/[+/]/g, '.')),
      'never the peer key',
    )
    await anchor.release(c)
    const d = call('c4', 'carrier', 'legacy')
    const toLegacy = (await anchor.offer(d, 'a', sdp(5000, [key], 'RTP/SAVP'))).toString()
    assert.match(toLegacy, /m=audio \d+ RTP\/AVP /)
    assert.doesNotMatch(toLegacy, /a=crypto/)
    assert.match(toLegacy, /a=rtcp-mux/)
    await anchor.release(d)
  })

  it('a call ending while its media pod drains (out of the registry, still serving) has its session deleted', async () => {
    // SIGTERM: the pod leaves the registry and relays its calls until they are deleted or its grace
    // runs out (docs/media-pod.md). Their deletes must still reach it, or it holds every session
    // (and waits its whole grace) although the calls ended.
    const c = call('c-drain', 'pbx', 'legacy')
    await anchor.offer(c, 'a', sdp(5000))
    await anchor.answer(c, 'b', sdp(6000))
    assert.equal(handler.sessionCount, 1)
    const info = (await store.listMediaPods()).find((p) => p.id === 'media-1')
    assert.ok(info)
    await store.unregisterMediaPod('media-1')
    anchor.podLeft('media-1') // what MediaPodWatch does once it sees the pod leave
    try {
      await anchor.release(c)
      const end = Date.now() + 5_000
      while (handler.sessionCount > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
      assert.equal(handler.sessionCount, 0)
    } finally {
      await store.registerMediaPod(info, 60_000)
      anchor.podLeft('media-1') // drops the cached registry list, which lacks the pod now
    }
  })

  it('an offer the media pod cannot relay is a 488 whatever its error says ("not supported", "transport")', async () => {
    // The pod's reasons: "DTLS-SRTP (UDP/TLS/RTP/SAVPF) is not supported", "no usable a=crypto
    // offered (1: an MKI is not supported)". Refusing the SDP is 488 (RFC 3261 §21.4.26); a 503 would
    // send the caller to another server for the same refusal.
    const mki = `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${Buffer.alloc(30, 2).toString('base64')}|2^31|1:1`
    for (const [i, offer] of [
      sdp(5000, ['a=fingerprint:sha-256 00:11', 'a=setup:actpass'], 'UDP/TLS/RTP/SAVPF'),
      sdp(5000, [mki], 'RTP/SAVP'),
    ].entries()) {
      await assert.rejects(
        anchor.offer(call(`c-refused-${i}`, 'pbx', 'legacy'), 'a', offer),
        (e: unknown) => {
          assert.ok(e instanceof MediaAnchorError, String(e))
          assert.match(e.message, /not supported/)
          assert.equal(e.sipStatus, 488, e.message)
          assert.equal(e.code, 'SBC_ERR_MEDIA_SDP_REJECTED')
          return true
        },
      )
    }
    assert.equal(handler.sessionCount, 0)
  })

  it('no common codec is a 488; late offer via answer(); no pod for the realm is a 503', async () => {
    const c = call('c5', 'pbx', 'legacy')
    const g729 = Buffer.from(
      sdp(5000).toString().replace('m=audio 5000 RTP/AVP 0 8 18 101', 'm=audio 5000 RTP/AVP 18'),
    )
    await assert.rejects(
      anchor.offer(c, 'a', g729),
      (e: unknown) => e instanceof MediaAnchorError && e.sipStatus === 488,
    )
    const late = call('c6', 'pbx', 'legacy')
    const out = (await anchor.answer(late, 'b', sdp(7000))).toString()
    assert.match(out, /m=audio 410\d\d/)
    assert.equal(late.media?.fromTag, 'b')
    await anchor.release(late)
    const lonely = new MediaAnchor({ config: () => config, store: new MemoryStore() })
    await assert.rejects(
      lonely.offer(call('c7', 'pbx', 'legacy'), 'a', sdp(5000)),
      (e: unknown) => e instanceof MediaAnchorError && e.sipStatus === 503,
    )
    await lonely.close()
    assert.equal(handler.sessionCount, 0)
  })

  it('moveOffer: a new session on another pod with its own SRTP keys; hasPodFor and answersPing', async () => {
    // A second media pod with its own port ranges (the re-anchoring target).
    const realms2 = new Map<string, RealmRuntime>(
      (
        [
          ['lan', 43000],
          ['wan', 44000],
        ] as const
      ).map(([name, min]) => [
        name,
        {
          name,
          bindAddress: '127.0.0.1',
          advertisedAddress: name === 'wan' ? '203.0.113.6' : '127.0.0.1',
          allocator: new PortAllocator({ min, max: min + 99 }, { quarantineMs: 0 }),
          maxSessions: 100,
        },
      ]),
    )
    const handler2 = new MediaNgHandler({ realms: realms2, defaultRealm: 'lan', native: null, fallback })
    const ng2 = await NgServerTransport.listen({ host: '127.0.0.1', port: 0, handler: handler2 })
    const address2 = `127.0.0.1:${ng2.address().port}`
    try {
      const c = call('mv1', 'pbx', 'carrier')
      const before = (await anchor.onOffer(c, 'a', sdp(5000))).toString()
      assert.equal(c.media?.pod, 'media-1')
      assert.equal(await anchor.hasPodFor(c, 'media-1'), false, 'media-1 is the only pod')
      await store.registerMediaPod(
        { id: 'media-2', address: address2, realms: ['lan', 'wan'], capacity: 100, active: 0 },
        60_000,
      )
      assert.equal(await anchor.hasPodFor(c, 'media-1'), true)
      const moved = { ...c }
      const after = (await anchor.moveOffer(moved, 'a', sdp(5000), 'media-1')).toString()
      assert.deepEqual(moved.media, { pod: 'media-2', ngCallId: 'mv1', fromTag: 'a' })
      assert.match(
        after,
        /m=audio 440\d\d RTP\/SAVP 8 0 101\r\n/,
        "media-2's wan port, SRTP per the carrier's profile",
      )
      assert.match(after, /c=IN IP4 203\.0\.113\.6/)
      const key = (s: string) => /a=crypto:\d+ \S+ inline:(\S+)/.exec(s)?.[1]
      assert.ok(key(after) && key(after) !== key(before), 'the new pod has its own key toward the carrier')
      const answer = (
        await anchor.answer(
          moved,
          'b',
          sdp(
            6000,
            [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${Buffer.alloc(30, 9).toString('base64')}`],
            'RTP/SAVP',
          ),
        )
      ).toString()
      assert.match(answer, /m=audio 430\d\d RTP\/AVP /, "media-2's lan port toward the pbx, plain RTP")
      assert.equal(handler2.sessionCount, 1)
      assert.equal(await anchor.answersPing(address2), true)
      await anchor.release(moved)
      await anchor.release(c)
      assert.equal(handler2.sessionCount, 0)
      assert.equal(handler.sessionCount, 0)
    } finally {
      await store.unregisterMediaPod('media-2')
      await ng2.close()
      handler2.close()
    }
    assert.equal(await anchor.answersPing(address2), false, 'nothing answers NG there any more')
  })

  it('a pod the watch saw leave is not picked from the cached registry list (podLeft)', async () => {
    // More free capacity than media-1: the pick while it is listed. Nothing answers NG there.
    const dead = { id: 'media-0', address: '127.0.0.1:9', realms: ['lan', 'wan'], capacity: 1000, active: 0 }
    await store.registerMediaPod(dead, 60_000)
    // A fresh read caches [media-0, media-1] for a second.
    assert.equal(await anchor.hasPodFor(call('probe', 'pbx', 'carrier'), 'media-1'), true)
    await store.unregisterMediaPod('media-0')
    anchor.podLeft('media-0')
    const c = call('left1', 'pbx', 'carrier')
    // Without podLeft the cached list still names media-0: NG timeout, then 503.
    await anchor.onOffer(c, 'a', sdp(5000))
    assert.equal(c.media?.pod, 'media-1')
    await anchor.release(c)
  })
})

describe('MediaAnchor: a media pod that refuses a new call because it drains', () => {
  it('the call goes to another pod of the realm instead of failing 503', async () => {
    // SIGTERM: the pod refuses new calls at once but leaves the registry lists signalling read a
    // moment ago (cached up to 1 s, the watch polls every second): in that window every new call
    // picked for it failed 503, many per rolling update under load.
    const fallback = new DgramRelayBackend()
    const pod = (min: number, draining: boolean) => {
      const realms = new Map<string, RealmRuntime>([
        [
          'lan',
          {
            name: 'lan',
            bindAddress: '127.0.0.1',
            advertisedAddress: '127.0.0.1',
            allocator: new PortAllocator({ min, max: min + 99 }, { quarantineMs: 0 }),
            maxSessions: 100,
          },
        ],
      ])
      return new MediaNgHandler({
        realms,
        defaultRealm: 'lan',
        native: null,
        fallback,
        accepting: () => !draining,
      })
    }
    const drainingHandler = pod(45000, true)
    const liveHandler = pod(46000, false)
    const drainingNg = await NgServerTransport.listen({
      host: '127.0.0.1',
      port: 0,
      handler: drainingHandler,
    })
    const liveNg = await NgServerTransport.listen({ host: '127.0.0.1', port: 0, handler: liveHandler })
    const store = new MemoryStore()
    // The draining pod has more free capacity: it is the registry's pick.
    await store.registerMediaPod(
      {
        id: 'draining',
        address: `127.0.0.1:${drainingNg.address().port}`,
        realms: ['lan'],
        capacity: 200,
        active: 0,
      },
      60_000,
    )
    await store.registerMediaPod(
      {
        id: 'live',
        address: `127.0.0.1:${liveNg.address().port}`,
        realms: ['lan'],
        capacity: 100,
        active: 0,
      },
      60_000,
    )
    const anchor = new MediaAnchor({ config: () => config, store, retransmitMs: 100 })
    try {
      const c = call('c-drain-pick', 'pbx', 'legacy')
      const out = (await anchor.offer(c, 'a', sdp(5000))).toString()
      assert.match(out, /m=audio 460\d\d /, 'ports of the live pod')
      assert.equal(c.media?.pod, 'live')
      assert.equal(drainingHandler.sessionCount, 0)
      await anchor.release(c)
      assert.equal(liveHandler.sessionCount, 0)
    } finally {
      await anchor.close()
      await drainingNg.close()
      await liveNg.close()
      drainingHandler.close()
      liveHandler.close()
      await store.close()
    }
  })
})
