-- Adds one finished game's results to the leaderboard, atomically and once: a result
-- already counted in the last hour (by its GAME:VERSION) is not counted again, so a
-- sweeper that finds a result noted but not yet cleared may safely count it.
-- KEYS[1] the wins sorted set; KEYS[2] the index of results counted (score: when, ms);
-- KEYS[3..] one stats hash per ranked player.
-- ARGV[1] the result's GAME:VERSION, ARGV[2] now (ms); then, for each of those players,
-- its name and the field to count (wins, losses, draws).
local now = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 3600000)
if redis.call('ZADD', KEYS[2], 'NX', now, ARGV[1]) == 0 then
  return 0
end
for i = 3, #KEYS do
  local name, field = ARGV[(i - 3) * 2 + 3], ARGV[(i - 3) * 2 + 4]
  redis.call('HINCRBY', KEYS[i], field, 1)
  local gain = 0
  if field == 'wins' then gain = 1 end
  redis.call('ZINCRBY', KEYS[1], gain, name)
end
return #KEYS - 2
