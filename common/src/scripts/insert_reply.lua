-- Puts a bot reply into a session's history right after the human message it answers,
-- so the history reads human, reply, human, reply however the messages were batched.
-- KEYS[1] session key; ARGV[1] reply JSON; ARGV[2] id of the human message; ARGV[3] TTL;
-- ARGV[4] '1' to insert without waiting for earlier messages (they may never be answered);
-- ARGV[5] the most messages kept; ARGV[6] how many of the last messages to look at.
-- Returns {'ok'}; {'dup', existing reply JSON, '1' if that reply is still marked as being
-- published else '0'} when that message was already answered;
-- {'wait'} while an earlier human message of this session still has no reply (another
-- worker holds it), so replies reach the user in the order the messages were sent;
-- {'gone'} when the session or the message no longer exists (or is no longer among the
-- last ARGV[6] messages).
-- A stored reply is marked in `$.publishing` until its worker has added it to
-- response_channel (see reply_published.lua): while another reply is marked, this one
-- waits too, so response_channel carries one session's replies in history order.
-- A human message that a forced insert went past without an answer (never queued: its
-- node died between storing and queueing it) is noted in `$.skipped`, so later replies
-- do not wait for it again; the last 32 are kept.
-- Only the end of the history is read, so the cost does not depend on its length.
local len = redis.call('JSON.ARRLEN', KEYS[1], '$.messages')[1]
if not len then
  return {'gone'}
end
local from = math.max(0, len - tonumber(ARGV[6]))
-- Only the IDs and sources of the last messages, the IDs their replies answer, and the
-- two private fields: never the texts, so the cost does not depend on their size.
local P_ID = '$.messages[' .. from .. ':].id'
local P_SOURCE = '$.messages[' .. from .. ':].source'
local P_ANSWERED = '$.messages[' .. from .. ':].in_reply_to'
local got = cjson.decode(redis.call('JSON.GET', KEYS[1], P_ID, P_SOURCE, P_ANSWERED,
  '$.publishing', '$.skipped'))
local ids, sources = got[P_ID], got[P_SOURCE]
local answered = {}
for _, id in ipairs(got[P_ANSWERED]) do
  if type(id) == 'string' then answered[id] = true end
end
local publishing = got['$.publishing'][1]
local skipped = {}
local skipped_list = got['$.skipped'][1]
if type(skipped_list) == 'table' then
  for _, id in ipairs(skipped_list) do skipped[id] = true end
else
  skipped_list = {}
end
local passed = {}
if answered[ARGV[2]] then
  local existing
  if string.match(ARGV[2], '^[%w%-]+$') then
    existing = cjson.decode(redis.call('JSON.GET', KEYS[1],
      '$.messages[?(@.in_reply_to=="' .. ARGV[2] .. '")]'))[1]
  end
  if existing then
    -- Still marked: its worker may have stopped before adding it to response_channel.
    local unconfirmed = '0'
    if publishing == existing.id then unconfirmed = '1' end
    return {'dup', cjson.encode(existing), unconfirmed}
  end
end
if ARGV[4] ~= '1' and type(publishing) == 'string' then
  return {'wait'}
end
for i, id in ipairs(ids) do
  if id == ARGV[2] then
    redis.call('JSON.ARRINSERT', KEYS[1], '$.messages', from + i, ARGV[1])
    redis.call('JSON.SET', KEYS[1], '$.publishing', cjson.encode(cjson.decode(ARGV[1]).id))
    local over = len + 1 - tonumber(ARGV[5])
    if over > 0 then
      redis.call('JSON.ARRTRIM', KEYS[1], '$.messages', over, -1)
      local dropped = cjson.decode(redis.call('JSON.GET', KEYS[1], '$.dropped'))[1] or 0
      redis.call('JSON.SET', KEYS[1], '$.dropped', dropped + over)
    end
    if #passed > 0 then
      for _, id in ipairs(passed) do table.insert(skipped_list, id) end
      while #skipped_list > 32 do table.remove(skipped_list, 1) end
      redis.call('JSON.SET', KEYS[1], '$.skipped', cjson.encode(skipped_list))
    end
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    return {'ok'}
  end
  if sources[i] == 'human' and not answered[id] and not skipped[id] then
    if ARGV[4] ~= '1' then
      return {'wait'}
    end
    table.insert(passed, id)
  end
end
return {'gone'}
