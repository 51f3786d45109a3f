//! The Lua scripts: each runs atomically on the server, so a record and its
//! indexes change together, a hit is one round trip, and a claim's owner is
//! checked and changed in one step.

use std::sync::LazyLock;

use redis::Script;

/// Stores a record, replacing any record under its key, and indexes it.
///
/// KEYS: record, all-records index, function index. ARGV: record CBOR,
/// function, member (key hex), score (created_at µs), result digest hex
/// when not inline (else empty), TTL in ms (0: none), function-index
/// prefix, value-key prefix.
pub(crate) static PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local ttl = tonumber(ARGV[6])
local function index(key)
  local fresh = redis.call('EXISTS', key) == 0
  redis.call('ZADD', key, ARGV[4], ARGV[3])
  if ttl > 0 then
    local left = redis.call('PTTL', key)
    if fresh or (left >= 0 and left < ttl) then redis.call('PEXPIRE', key, ttl) end
  else
    redis.call('PERSIST', key)
  end
end
local old = false
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('TYPE', KEYS[1]).ok == 'hash' then old = redis.call('HGET', KEYS[1], 'f') end
  redis.call('DEL', KEYS[1])
end
if old and old ~= ARGV[2] then redis.call('ZREM', ARGV[7] .. old, ARGV[3]) end
if ARGV[5] == '' then
  redis.call('HSET', KEYS[1], 'r', ARGV[1], 'f', ARGV[2])
else
  redis.call('HSET', KEYS[1], 'r', ARGV[1], 'f', ARGV[2], 'v', ARGV[5])
  if ttl > 0 then
    local value = ARGV[8] .. ARGV[5]
    local left = redis.call('PTTL', value)
    if left >= 0 and left < ttl then redis.call('PEXPIRE', value, ttl) end
  end
end
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
index(KEYS[2])
index(KEYS[3])
return 1
",
    )
});

/// The hit path: a record's CBOR, and the bytes of its result when they
/// live apart (nil if that value is gone).
///
/// KEYS: record. ARGV: value-key prefix.
pub(crate) static GET_RESULT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local f = redis.call('HMGET', KEYS[1], 'r', 'v')
if not f[1] then return false end
if f[2] then return {f[1], redis.call('GET', ARGV[1] .. f[2])} end
return {f[1]}
",
    )
});

/// Deletes a record and its index entries; returns how many records went.
///
/// KEYS: record, all-records index. ARGV: member, function-index prefix.
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local old = false
if redis.call('TYPE', KEYS[1]).ok == 'hash' then old = redis.call('HGET', KEYS[1], 'f') end
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if old then redis.call('ZREM', ARGV[2] .. old, ARGV[1]) end
return n
",
    )
});

/// Removes an index entry whose record is gone (expired), unless a writer
/// has put the record back meanwhile.
///
/// KEYS: record, index. ARGV: member.
pub(crate) static PRUNE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.call('ZREM', KEYS[2], ARGV[1]) end
return 0
",
    )
});

/// Claims a key: `SET NX PX` on the lease; the same owner may claim again.
/// Returns `{1, took_over}` or `{0, holder, remaining ms}`.
///
/// KEYS: lease, last holder. ARGV: owner, lease ms, last-holder ms.
pub(crate) static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local last = redis.call('GET', KEYS[2])
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
  if last and last ~= ARGV[1] then return {1, 1} end
  return {1, 0}
end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
  return {1, 0}
end
return {0, holder, redis.call('PTTL', KEYS[1])}
",
    )
});

/// Extends a lease if `owner` holds it; 1 if it did.
///
/// KEYS: lease, last holder. ARGV: owner, lease ms, last-holder ms.
pub(crate) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0
",
    )
});

/// Gives up a lease if `owner` holds it; 1 if it did. The last-holder key
/// goes too: a released claim is not taken over.
///
/// KEYS: lease, last holder. ARGV: owner.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0
",
    )
});
