import type { DialogState } from '../sip/dialog/dialog-state.ts'

/** Options of {@link testCall}. */
export interface TestCallOptions {
  aCallId?: string
  aRemoteTag?: string
  bCallId?: string
  bLocalTag?: string
  state?: DialogState['state']
}

/**
 * A realistic call for tests and benchmarks: Webex-style A leg over TLS with a two-entry route set,
 * a PBX B leg over UDP. Sizes are typical of the seed lab so memory figures mean something.
 */
export function testCall(id: string, o: TestCallOptions = {}): DialogState {
  const state = o.state ?? 'early'
  return {
    id,
    version: 0,
    state,
    createdAt: 1_790_000_000_000,
    a: {
      callId: o.aCallId ?? `${id}-a7f3c9e1b2d4@10.20.30.40`,
      localTag: `sbc${id.slice(0, 8)}a`,
      remoteTag: o.aRemoteTag ?? `7c1e9d${id.slice(0, 6)}`,
      localCSeq: 0,
      remoteCSeq: 101,
      localUri: 'sip:+4930123456@sbc.example.com',
      remoteUri: 'sip:+4989654321@webex.example.net',
      remoteTarget: 'sip:+4989654321@10.20.30.40:5061;transport=tls',
      routeSet: [
        '<sip:edge1.webex.example.net:5061;transport=tls;lr>',
        '<sip:10.20.30.41:5061;transport=tls;lr>',
      ],
      secure: true,
      peer: {
        transport: 'tls',
        address: '10.20.30.40',
        port: 5061,
        localInterface: 'wan',
        connectionId: 'c17',
        connectionPod: 'sig-0',
      },
      ipGroup: 'webex',
      state,
    },
    b: {
      callId: o.bCallId ?? `b-${id}`,
      localTag: o.bLocalTag ?? `sbc${id.slice(0, 8)}b`,
      remoteTag: '',
      localCSeq: 1,
      remoteCSeq: 0,
      localUri: 'sip:+4989654321@sbc.lan.example.com',
      remoteUri: 'sip:+4930123456@pbx.lan.example.com',
      remoteTarget: 'sip:+4930123456@192.168.1.10:5060',
      routeSet: [],
      secure: false,
      peer: { transport: 'udp', address: '192.168.1.10', port: 5060, localInterface: 'lan' },
      ipGroup: 'pbx',
      state,
    },
    admission: { sourceGroup: 'webex', destGroup: 'pbx', rule: 'webex-to-pbx', counters: ['webex', 'pbx'] },
    cdr: { caller: '+4989654321', callee: '+4930123456' },
  }
}

/** The state after the callee answered: B's tag learnt, both legs confirmed, media attached. */
export function answered(s: DialogState): DialogState {
  return {
    ...s,
    state: 'confirmed',
    answeredAt: s.createdAt + 4200,
    sessionExpiresS: 1800,
    a: { ...s.a, state: 'confirmed' },
    b: { ...s.b, state: 'confirmed', remoteTag: 'as5f2a1c7d', remoteCSeq: 0 },
    media: {
      pod: 'media-node-a',
      ngCallId: s.id,
      fromTag: s.a.remoteTag,
      toTag: s.a.localTag,
      sessionA: 'r1',
      sessionB: 'r2',
    },
    cdr: { ...s.cdr, sipCode: 200 },
  }
}
