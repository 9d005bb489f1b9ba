-- Clears a session's `$.publishing` mark (set by insert_reply.lua) once the reply it names
-- is in response_channel, so the session's next reply may be stored.
-- KEYS[1] session key; ARGV[1] id of the published reply. Returns 1 if the mark was cleared.
local raw = redis.call('JSON.GET', KEYS[1], '$.publishing')
if not raw then
  return 0
end
if cjson.decode(raw)[1] == ARGV[1] then
  redis.call('JSON.SET', KEYS[1], '$.publishing', 'null')
  return 1
end
return 0
