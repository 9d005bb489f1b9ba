-- Claims the entries of a deadline index (a sorted set scored by when each is due, ms)
-- that are due, for one node's sweep: they are due again `lease` ms from now, so the
-- sweeps of other nodes skip them while this one checks them, and check them after the
-- lease if this node dies first. Atomic, so no two nodes claim the same entry.
-- KEYS[1] the index. ARGV[1] now (ms), ARGV[2] at most how many, ARGV[3] the lease (ms).
-- Returns the claimed members, the longest overdue first.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #due > 0 then
  local again = tonumber(ARGV[1]) + tonumber(ARGV[3])
  local args = {}
  for i, member in ipairs(due) do
    args[2 * i - 1] = again
    args[2 * i] = member
  end
  redis.call('ZADD', KEYS[1], 'XX', unpack(args))
end
return due
