-- Counts one WebSocket session opened through an app on a node, in the day's and the
-- hour's field of that app and node's hash for the day, and lists the hash in the day's index.
-- KEYS[1] the hash; KEYS[2] the day's index; ARGV[1] the hour (0-23); ARGV[2] the index
-- member; ARGV[3] TTL (s).
redis.call('HINCRBY', KEYS[1], 'day', 1)
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
