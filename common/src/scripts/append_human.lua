-- Appends a human message to a session's history and extends the TTL.
-- KEYS[1] session key; ARGV[1] message JSON; ARGV[2] TTL in seconds.
-- Returns 1, or 0 when the session is gone.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('JSON.ARRAPPEND', KEYS[1], '$.messages', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
