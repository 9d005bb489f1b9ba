-- Adds one finished game's results to the leaderboard, atomically.
-- KEYS[1] the wins sorted set; KEYS[2..] one stats hash per ranked player.
-- ARGV: for each of those players, its name and the field to count (wins, losses, draws).
for i = 2, #KEYS do
  local name, field = ARGV[(i - 2) * 2 + 1], ARGV[(i - 2) * 2 + 2]
  redis.call('HINCRBY', KEYS[i], field, 1)
  local gain = 0
  if field == 'wins' then gain = 1 end
  redis.call('ZINCRBY', KEYS[1], gain, name)
end
return #KEYS - 1
