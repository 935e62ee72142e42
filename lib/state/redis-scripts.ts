import { AdmissionSchema, DialogStateSchema, LegStateSchema } from '../sip/dialog/dialog-state.ts'
import { CODEC_VERSION, luaPosition } from './compact-codec.ts'

/**
 * The Lua scripts of `RedisStore`, registered with ioredis `defineCommand` (EVALSHA, with EVAL on
 * NOSCRIPT after a Redis restart). Each touches only the keys it declares, and the keys of one
 * script share a hash tag, except the call scripts in single-node/Sentinel deployments (see
 * docs/state.md, "Redis Cluster"). Time comes from Redis `TIME` so pods with skewed clocks agree;
 * Redis ≥ 5 replicates script effects, so `TIME` before writes is allowed.
 */

/** Positions (from 1) in a stored call's compact encoding (compact-codec.ts), for sbcEndByLeg. */
const AT = {
  a: luaPosition(DialogStateSchema, 'a'),
  b: luaPosition(DialogStateSchema, 'b'),
  admission: luaPosition(DialogStateSchema, 'admission'),
  counters: luaPosition(AdmissionSchema, 'counters'),
  callId: luaPosition(LegStateSchema, 'callId'),
  localTag: luaPosition(LegStateSchema, 'localTag'),
  remoteTag: luaPosition(LegStateSchema, 'remoteTag'),
  remoteCSeq: luaPosition(LegStateSchema, 'remoteCSeq'),
}

/** `now` in ms from the Redis clock. */
const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/**
 * HOLD_TO_TTL: the admission holds a call lists (holds keys in ARGV from position `first`) expire
 * with the call, whose TTL is ARGV[`ttl`] and id ARGV[`id`]: a hold still live is moved to now + TTL
 * (and its set's expiry to its latest hold). So a pod that dies while its calls ring frees their
 * slots with the early TTL, not the maximum call duration the B2BUA acquired them for, and a call
 * kept alive by in-dialog writes keeps its slot. An expired or released hold is not taken back.
 */
function holdToTtl(first: number, ttl: number, id: number): string {
  return `if #ARGV >= ${first} then
  ${NOW}
  local exp = now + tonumber(ARGV[${ttl}])
  for i = ${first}, #ARGV do
    local held = redis.call('ZSCORE', ARGV[i], ARGV[${id}])
    if held and tonumber(held) > now then
      redis.call('ZADD', ARGV[i], exp, ARGV[${id}])
      local last = redis.call('ZRANGE', ARGV[i], -1, -1, 'WITHSCORES')
      redis.call('PEXPIREAT', ARGV[i], last[2])
    end
  end
end`
}

/** A script with its key count, as `defineCommand` takes it. */
export interface ScriptDef {
  numberOfKeys: number
  lua: string
}

export const scripts = {
  /**
   * KEYS call, idxA, idxB, cancel mark of leg A; ARGV json, ttlMs, id, mark (`''`: not checked),
   * version (1 for a new call; `restoreCall` puts a call back with its next version), then the holds
   * keys of the groups the call lists (`admission.counters`) →
   * 1 created, 0 id exists, -1 leg indexed, -2 a CANCEL of this INVITE was recorded (consumed).
   * The call's live holds are set to expire with it (HOLD_TO_TTL).
   */
  sbcCreateCall: {
    numberOfKeys: 4,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
if ARGV[4] ~= '' and redis.call('GET', KEYS[4]) == ARGV[4] then
  redis.call('DEL', KEYS[4])
  return -2
end
redis.call('HSET', KEYS[1], 'v', ARGV[5], 's', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[2])
${holdToTtl(6, 2, 3)}
return 1`,
  },
  /**
   * KEYS call, idxA, idxB; ARGV expectedVersion, json, ttlMs, id, then the holds keys of the groups
   * the call lists →
   * {1, v} written; {0, v} version conflict; {-1} not found; {-2} leg identity changed.
   * The identity check works because the indexes always point at their call (same script, same TTL).
   * The call's live holds are set to expire with it (HOLD_TO_TTL).
   */
  sbcUpdateCall: {
    numberOfKeys: 3,
    lua: `
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return {-1} end
if v ~= ARGV[1] then return {0, tonumber(v)} end
if redis.call('GET', KEYS[2]) ~= ARGV[4] or redis.call('GET', KEYS[3]) ~= ARGV[4] then return {-2} end
local nv = tonumber(v) + 1
redis.call('HSET', KEYS[1], 'v', nv, 's', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
${holdToTtl(5, 3, 4)}
return {1, nv}`,
  },
  /**
   * KEYS idx1, idx2 (leg index keys, Call-ID hash tag); ARGV call-key prefix, call-key suffix →
   * {i, id, json} for the first index whose call exists, {} when none. One round trip for what was
   * MGET then HGET. The call key is built here from the id the index holds, so it is not declared:
   * like the other call scripts this needs a single node or Sentinel, not Cluster (docs/state.md).
   */
  sbcFindByLeg: {
    numberOfKeys: 2,
    lua: `
for i = 1, 2 do
  local id = redis.call('GET', KEYS[i])
  if id then
    local s = redis.call('HGET', ARGV[1] .. id .. ARGV[2], 's')
    if s then return {i, id, s} end
  end
end
return {}`,
  },
  /**
   * KEYS idxA, cancel mark of leg A (one hash tag: the Call-ID); ARGV call-key prefix, suffix, mark,
   * ttlMs → {id, json} when leg A's call exists, else {} after recording the mark. Reads the call key
   * it learns from the index, like sbcFindByLeg (single node or Sentinel).
   */
  sbcCancelUnstored: {
    numberOfKeys: 2,
    lua: `
local id = redis.call('GET', KEYS[1])
if id then
  local s = redis.call('HGET', ARGV[1] .. id .. ARGV[2], 's')
  if s then return {id, s} end
end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return {}`,
  },
  /**
   * KEYS idxA, cancel mark of leg A (one hash tag); ARGV call-key prefix, suffix, mark → {id, json}
   * when leg A's call exists, else {} after deleting the mark if it names this INVITE (a mark of
   * another INVITE of the same leg is left to its TTL). Single node or Sentinel, like sbcFindByLeg.
   */
  sbcForgetUnstored: {
    numberOfKeys: 2,
    lua: `
local id = redis.call('GET', KEYS[1])
if id then
  local s = redis.call('HGET', ARGV[1] .. id .. ARGV[2], 's')
  if s then return {id, s} end
end
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return {}`,
  },
  /**
   * A BYE (RFC 3261 §15): findByLeg, the CSeq check and the end of the call in one round trip.
   * KEYS idx1, idx2 as for sbcFindByLeg; ARGV call-key prefix, suffix; leg-index key head, its
   * middle for a remote (`r`) and a local (`l`) tag; holds-key prefix, suffix; the BYE's CSeq; the
   * leg (`a`/`b`) of idx1, of idx2 → {} when no call; {i, id, json, 0} when the CSeq is not above
   * the leg's remoteCSeq (§12.2.2: the BYE gets 500; nothing changed); else {i, id, json, 1} after
   * deleting the call, both leg indexes that still name it (their keys built from the stored legs,
   * as sbcDeleteCall gets them) and its holds in the groups `admission.counters` lists (as
   * sbcRelease). Everything is read and checked before the first write: a script error leaves the
   * call as it was. The call, other index and holds keys are built here, not declared: single node
   * or Sentinel, like sbcFindByLeg (docs/state.md, "Redis Cluster").
   */
  sbcEndByLeg: {
    numberOfKeys: 2,
    lua: `
for i = 1, 2 do
  local id = redis.call('GET', KEYS[i])
  if id then
    local ck = ARGV[1] .. id .. ARGV[2]
    local s = redis.call('HGET', ck, 's')
    if s then
      local d = cjson.decode(s)
      if type(d) ~= 'table' or d[1] ~= ${CODEC_VERSION} or type(d[2]) ~= 'table' then
        return redis.error_reply('call ' .. id .. ': not a stored call')
      end
      local st = d[2]
      local a, b, adm = st[${AT.a}], st[${AT.b}], st[${AT.admission}]
      if type(a) ~= 'table' or type(b) ~= 'table' or type(adm) ~= 'table' or type(adm[${AT.counters}]) ~= 'table' then
        return redis.error_reply('call ' .. id .. ': not a stored call')
      end
      local leg = a
      if ARGV[8 + i] == 'b' then leg = b end
      if tonumber(ARGV[8]) <= tonumber(leg[${AT.remoteCSeq}]) then return {i, id, s, 0} end
      local ia = ARGV[3] .. a[${AT.callId}] .. ARGV[4] .. a[${AT.remoteTag}]
      local ib = ARGV[3] .. b[${AT.callId}] .. ARGV[5] .. b[${AT.localTag}]
      redis.call('DEL', ck)
      if redis.call('GET', ia) == id then redis.call('DEL', ia) end
      if redis.call('GET', ib) == id then redis.call('DEL', ib) end
      local groups = adm[${AT.counters}]
      if #groups > 0 then
        ${NOW}
        for _, g in ipairs(groups) do
          local hk = ARGV[6] .. g .. ARGV[7]
          redis.call('ZREMRANGEBYSCORE', hk, '-inf', now)
          redis.call('ZREM', hk, id)
        end
      end
      return {i, id, s, 1}
    end
  end
end
return {}`,
  },
  /** KEYS call, idxA, idxB; ARGV id → 1 deleted, 0 absent. Indexes are removed only if they are ours. */
  sbcDeleteCall: {
    numberOfKeys: 3,
    lua: `
local n = redis.call('DEL', KEYS[1])
for i = 2, 3 do if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end end
return n`,
  },
  /** KEYS call, idxA, idxB; ARGV ttlMs, version → 1 refreshed, 0 absent or changed meanwhile. */
  sbcRefreshCall: {
    numberOfKeys: 3,
    lua: `
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[2] then return 0 end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return 1`,
  },
  /** KEYS holds zset; ARGV callId, limit, holdMs → {granted 1/0, active}. */
  sbcAcquire: {
    numberOfKeys: 1,
    lua: `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
local n = redis.call('ZCARD', KEYS[1])
if held or n < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  if not held then n = n + 1 end
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[1], last[2])
  return {1, n}
end
return {0, n}`,
  },
  /** KEYS holds zset; ARGV callId → 1 released, 0 not held (or expired). */
  sbcRelease: {
    numberOfKeys: 1,
    lua: `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZREM', KEYS[1], ARGV[1])`,
  },
  /** KEYS holds zset → live holds (read-only). */
  sbcActive: {
    numberOfKeys: 1,
    lua: `${NOW}
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')`,
  },
  /** KEYS bucket hash; ARGV ratePerSec, burst, ttlMs → {allowed 1/0, retryAfterMs}. Mirrors takeToken(). */
  sbcRate: {
    numberOfKeys: 1,
    lua: `${NOW}
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens, at = tonumber(b[1]) or burst, tonumber(b[2]) or now
local filled = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local allowed, retry = 0, 0
if filled >= 1 then allowed = 1; filled = filled - 1 else retry = math.ceil((1 - filled) * 1000 / rate) end
redis.call('HSET', KEYS[1], 't', string.format('%.6f', filled), 'at', now)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {allowed, retry}`,
  },
  /** KEYS expiry zset, data hash; ARGV id, json, ttlMs. Prunes dead entries, then upserts. */
  sbcExpiringSet: {
    numberOfKeys: 2,
    lua: `${NOW}
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, m in ipairs(dead) do redis.call('HDEL', KEYS[2], m) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
redis.call('PEXPIREAT', KEYS[2], last[2])
return 1`,
  },
  /** KEYS expiry zset, data hash; ARGV id. */
  sbcExpiringDel: {
    numberOfKeys: 2,
    lua: `
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])`,
  },
  /** KEYS expiry zset, data hash → flat {id, expiresAt, value, ...} of live entries. */
  sbcExpiringList: {
    numberOfKeys: 2,
    lua: `${NOW}
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')
local out = {}
for i = 1, #live, 2 do
  local val = redis.call('HGET', KEYS[2], live[i])
  if val then out[#out + 1] = live[i]; out[#out + 1] = live[i + 1]; out[#out + 1] = val end
end
return out`,
  },
  /** KEYS lease; ARGV owner, ttlMs → {acquired 1/0, holder, expiresAt}. */
  sbcLeaseAcquire: {
    numberOfKeys: 1,
    lua: `${NOW}
local cur = redis.call('GET', KEYS[1])
if not cur or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, ARGV[1], now + tonumber(ARGV[2])}
end
return {0, cur, now + redis.call('PTTL', KEYS[1])}`,
  },
  /** KEYS lease; ARGV owner, ttlMs → 1 renewed, 0 not the holder. */
  sbcLeaseRenew: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])`,
  },
  /** KEYS lease; ARGV owner → 1 released, 0 not the holder. */
  sbcLeaseRelease: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`,
  },
  /** KEYS lease → {} or {holder, expiresAt}. */
  sbcLeaseGet: {
    numberOfKeys: 1,
    lua: `${NOW}
local cur = redis.call('GET', KEYS[1])
if not cur then return {} end
return {cur, now + redis.call('PTTL', KEYS[1])}`,
  },
} as const satisfies Record<string, ScriptDef>

export type ScriptName = keyof typeof scripts
