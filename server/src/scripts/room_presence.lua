-- Presence in one room, per name: a name is present while any unexpired member
-- 'NODE \x1f NAME' holds it. Announces 'joined' when a name becomes present and 'left' when
-- it stops being present, while the room is small: fewer than ARGV[7] (PRESENCE_MAX) live
-- members. A large room announces nothing, so that filling it does not cost every member a
-- frame per arrival, and no step reads all of its members.
-- `join` and `list` answer {live members, members}: all the live members ('NODE \x1f NAME')
-- of a small room (the joiner's among them), or ARGV[7] of a large one, the latest first.
-- KEYS[1] the room's presence set (score: expiry, ms). ARGV[1] op (join, list, leave,
-- expire), ARGV[2] now (ms), ARGV[3] PUBLISH or SPUBLISH, ARGV[4] channel, ARGV[5] member,
-- ARGV[6] its expiry (join), ARGV[7] PRESENCE_MAX.
local op, now, publish, channel = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local most = tonumber(ARGV[7])
local after = '(' .. now

local function name_of(member)
  return string.match(member, '\31(.*)$')
end

local function count()
  return redis.call('ZCOUNT', KEYS[1], after, '+inf')
end

-- The unexpired members.
local function live()
  return redis.call('ZRANGEBYSCORE', KEYS[1], after, '+inf')
end

-- Whether `name` is among `members` (the unexpired ones unless given).
local function present(name, members)
  for _, m in ipairs(members or live()) do
    if name_of(m) == name then
      return true
    end
  end
  return false
end

local function announce(kind, name)
  redis.call(publish, channel, cjson.encode({[kind] = name}))
end

-- The live members and the list of them a joiner gets.
local function listing()
  local n = count()
  if n < most then
    return {n, live()}
  end
  return {n, redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', after, 'LIMIT', 0, most)}
end

if op == 'join' then
  if count() >= most then
    redis.call('ZADD', KEYS[1], ARGV[6], ARGV[5])
    return listing()
  end
  local name = name_of(ARGV[5])
  local members = live()
  redis.call('ZADD', KEYS[1], ARGV[6], ARGV[5])
  if not present(name, members) then
    announce('joined', name)
  end
  table.insert(members, ARGV[5])
  return {#members, members}
elseif op == 'list' then
  return listing()
elseif op == 'leave' then
  redis.call('ZREM', KEYS[1], ARGV[5])
  if count() >= most then
    return 1
  end
  local name = name_of(ARGV[5])
  if not present(name) then
    announce('left', name)
  end
  return 1
elseif op == 'expire' then
  local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
  for _, m in ipairs(dead) do
    redis.call('ZREM', KEYS[1], m)
  end
  if count() >= most then
    return #dead
  end
  local members = live()
  local announced = {}
  for _, m in ipairs(dead) do
    local name = name_of(m)
    if not announced[name] and not present(name, members) then
      announced[name] = true
      announce('left', name)
    end
  end
  return #dead
end
return 0
