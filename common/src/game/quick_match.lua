-- Quick match: takes the oldest game waiting in the queue, or queues the caller's.
-- KEYS[1] the queue (list of 'GAME \x1f TOKEN'); ARGV[1] the caller's entry, ARGV[2] its token.
-- Returns the entry taken, or nil when the caller's entry was queued. Entries of the
-- caller's own token are dropped (a player is never matched with itself).
while true do
  local entry = redis.call('LPOP', KEYS[1])
  if not entry then
    break
  end
  local token = string.match(entry, '\31(.*)$')
  if token ~= ARGV[2] then
    return entry
  end
end
redis.call('RPUSH', KEYS[1], ARGV[1])
return false
