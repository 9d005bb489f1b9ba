-- Extends a session's TTL and returns the whole document, or nil when it is gone.
-- KEYS[1] session key; ARGV[1] TTL in seconds.
if redis.call('EXPIRE', KEYS[1], ARGV[1]) == 0 then
  return false
end
return redis.call('JSON.GET', KEYS[1], '$')
