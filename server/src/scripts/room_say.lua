-- Adds a message to a room's stream and publishes it, as one step.
-- KEYS[1] the room's stream. ARGV[1] PUBLISH or SPUBLISH, ARGV[2] channel, ARGV[3] origin
-- (JSON or ''), ARGV[4] room, ARGV[5] sender's name, ARGV[6] text, ARGV[7] timestamp,
-- ARGV[8] cap of the stream. Returns the message's stream ID.
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[8], '*', 'from', ARGV[5], 'text', ARGV[6], 'ts', ARGV[7])
local origin = ARGV[3]
if origin == '' then origin = 'null' end
local message = cjson.encode({room = ARGV[4], id = id, from = ARGV[5], text = ARGV[6], timestamp = ARGV[7]})
redis.call(ARGV[1], ARGV[2], '{"origin":' .. origin .. ',"message":' .. message .. '}')
return id
