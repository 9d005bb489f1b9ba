-- Appends a human message to a session's history, drops the oldest messages past the cap
-- in the same step (counting them in `$.dropped`), and extends the TTL. Its cost does not
-- depend on the history's length beyond the cap.
-- KEYS[1] session key; ARGV[1] message JSON; ARGV[2] TTL in seconds; ARGV[3] the most
-- messages kept. Returns 1, or 0 when the session is gone.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local len = redis.call('JSON.ARRAPPEND', KEYS[1], '$.messages', ARGV[1])[1]
local over = len - tonumber(ARGV[3])
if over > 0 then
  redis.call('JSON.ARRTRIM', KEYS[1], '$.messages', over, -1)
  local dropped = cjson.decode(redis.call('JSON.GET', KEYS[1], '$.dropped'))[1] or 0
  redis.call('JSON.SET', KEYS[1], '$.dropped', dropped + over)
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
