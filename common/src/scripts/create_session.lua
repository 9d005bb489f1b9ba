-- Creates a session document unless the key exists, and sets its TTL.
-- KEYS[1] session key; ARGV[1] document JSON; ARGV[2] TTL in seconds.
if not redis.call('JSON.SET', KEYS[1], '$', ARGV[1], 'NX') then
  return 0
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
