/**
 * RFC 5769's STUN test vectors (§2.1–§2.3), shared by the TypeScript codec's tests and the native
 * responder's. The request's USERNAME "evtj:h6vY" and SOFTWARE are padded with 0x20, as printed in
 * the RFC; its short-term password is "VOkJxbRl1RmTxUk/WvJxBt".
 */

/** Octets from hex text with any white space in it (the RFC's layout). */
export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

/** §2.1: a Binding request with USERNAME, MESSAGE-INTEGRITY and FINGERPRINT. */
export const RFC5769_REQUEST = hex(`00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
  00 24 00 04 6e 00 01 ff
  80 29 00 08 93 2f f9 b1 51 26 3b 36
  00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
  00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
  80 28 00 04 e5 7a 3b cf`)

/** The request's credentials: the local ufrag its USERNAME starts with, and the password. */
export const RFC5769 = { ufrag: 'evtj', pwd: 'VOkJxbRl1RmTxUk/WvJxBt' } as const
