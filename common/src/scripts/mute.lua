-- Mutes or unmutes a name for one session, atomically, and extends the session's TTL.
-- KEYS[1] session key; ARGV[1] 'mute' or 'unmute', ARGV[2] the name, ARGV[3] the most names
-- a session may mute, ARGV[4] TTL in seconds.
-- Answers {'muted', LIST} (the list as JSON, in the order the names were muted),
-- {'limit'} when the list is full, {'gone'} when the session is unknown or expired.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'gone'}
end
-- Absent in documents of earlier releases: none muted.
local list = cjson.decode(redis.call('JSON.GET', KEYS[1], '$.muted'))[1] or {}
local at = nil
for i, name in ipairs(list) do
  if name == ARGV[2] then
    at = i
  end
end
if ARGV[1] == 'mute' and not at then
  if #list >= tonumber(ARGV[3]) then
    return {'limit'}
  end
  table.insert(list, ARGV[2])
elseif ARGV[1] == 'unmute' and at then
  table.remove(list, at)
end
-- cjson writes an empty table as an object.
local json = '[]'
if #list > 0 then
  json = cjson.encode(list)
end
redis.call('JSON.SET', KEYS[1], '$.muted', json)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {'muted', json}
