-- Counts one request against fixed-window limits, atomically: the request is counted in
-- every window only when every window still has room for it.
-- KEYS[i]: the counter of window i; ARGV[2i-1]: its limit; ARGV[2i]: its length (ms).
-- Returns 0 when the request is allowed, else the ms until the refusing window starts over.
local wait = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[2 * i - 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      ttl = tonumber(ARGV[2 * i])
      redis.call('PEXPIRE', key, ttl)
    end
    wait = math.max(wait, ttl)
  end
end
if wait > 0 then
  return wait
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, ARGV[2 * i])
  end
end
return 0
