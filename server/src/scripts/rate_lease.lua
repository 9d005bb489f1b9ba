-- Reserves up to ARGV[1] requests of one token in every window of its limits at once: the
-- grant is what every window still has room for, and it is counted in all of them in the
-- same step, so the windows' counts never pass their limits, whichever nodes reserve.
-- KEYS[i]: the counter of window i; ARGV[2i]: its limit; ARGV[2i+1]: its length (ms).
-- Returns {granted, ms}: with granted > 0, ms until the first of the windows starts over
-- (the reservation is good until then); with 0, ms until the refusing window starts over.
local grant = tonumber(ARGV[1])
local wait = 0
local ttls = {}
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  local ttl = redis.call('PTTL', key)
  if ttl == 0 then
    -- Less than a millisecond left: the window is over. (A grant counted in it would be
    -- good for no time, and the node would start the next window from one frame again.)
    redis.call('DEL', key)
    count = 0
    ttl = -2
  end
  local room = tonumber(ARGV[2 * i]) - count
  if ttl < 0 then
    -- A new window (or one that lost its expiry): it starts now.
    ttl = tonumber(ARGV[2 * i + 1])
    if count > 0 then
      redis.call('PEXPIRE', key, ttl)
    end
  end
  ttls[i] = ttl
  if room <= 0 then
    wait = math.max(wait, ttl)
  elseif room < grant then
    grant = room
  end
end
if wait > 0 then
  return {0, wait}
end
local ends = nil
for i, key in ipairs(KEYS) do
  if redis.call('INCRBY', key, grant) == grant then
    redis.call('PEXPIRE', key, ARGV[2 * i + 1])
  end
  if not ends or ttls[i] < ends then
    ends = ttls[i]
  end
end
return {grant, ends}
