-- Adds a message to a room's stream and publishes it, as one step.
-- KEYS[1] the room's stream, KEYS[2] the ID of its last message. ARGV[1] PUBLISH or
-- SPUBLISH, ARGV[2] channel, ARGV[3] origin (JSON or ''), ARGV[4] room, ARGV[5] sender's
-- name, ARGV[6] text, ARGV[7] timestamp, ARGV[8] cap of the stream, ARGV[9] how long (s)
-- the log (and the last ID) live after the last message.
-- Returns the message's stream ID.
--
-- The entry keeps its origin (who asked, with the request's ref), so a message fetched
-- from the stream reaches its sender with its ref as the published one does. The event
-- names the message before it (`prev`), so a node that missed some (its subscription was
-- lost for a moment) sees the gap at the next one and fetches what it missed.
local id
if ARGV[3] == '' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[8], '*', 'from', ARGV[5], 'text', ARGV[6], 'ts', ARGV[7])
else
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[8], '*', 'from', ARGV[5], 'text', ARGV[6], 'ts', ARGV[7],
    'origin', ARGV[3])
end
redis.call('EXPIRE', KEYS[1], ARGV[9])
-- The ID of the message before, read as the new one replaces it.
local last = redis.call('SET', KEYS[2], id, 'EX', ARGV[9], 'GET')
local origin = ARGV[3]
if origin == '' then origin = 'null' end
local prev = 'null'
if last then prev = '"' .. last .. '"' end
local message = cjson.encode({room = ARGV[4], id = id, from = ARGV[5], text = ARGV[6], timestamp = ARGV[7]})
redis.call(ARGV[1], ARGV[2], '{"origin":' .. origin .. ',"prev":' .. prev .. ',"message":' .. message .. '}')
return id
