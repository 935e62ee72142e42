/** SRTP (RFC 3711, RFC 6188, RFC 7714) and SDES keying (RFC 4568) for the media pods. */
export { AesCmKeystream } from './aes-cm.ts'
export { SrtpContext, type SrtpContextOptions, type SrtpCounters, SrtpStatus } from './context.ts'
export * from './errors.ts'
export { aesCmPrf, type DerivedKeys, deriveSessionKeys, KdfLabel, type SessionKeys } from './kdf.ts'
export { ReplayWindow } from './replay-window.ts'
export * from './sdes.ts'
export * from './suites.ts'
