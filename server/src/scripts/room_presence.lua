-- Presence in one room, per name: a name is present while any unexpired member
-- 'NODE \x1f NAME' holds it. Announces 'joined' when a name becomes present and 'left' when
-- it stops being present. `join` answers with the members present then (as 'NODE \x1f NAME',
-- the joiner's among them), for the joiner's member list.
-- KEYS[1] the room's presence set (score: expiry, ms). ARGV[1] op (join, leave, expire),
-- ARGV[2] now (ms), ARGV[3] PUBLISH or SPUBLISH, ARGV[4] channel, ARGV[5] member,
-- ARGV[6] its expiry (join).
local op, now, publish, channel = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]

local function name_of(member)
  return string.match(member, '\31(.*)$')
end

-- The unexpired members.
local function live()
  return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
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

if op == 'join' then
  local name = name_of(ARGV[5])
  local members = live()
  redis.call('ZADD', KEYS[1], ARGV[6], ARGV[5])
  if not present(name, members) then
    announce('joined', name)
  end
  table.insert(members, ARGV[5])
  return members
elseif op == 'leave' then
  redis.call('ZREM', KEYS[1], ARGV[5])
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
  local announced = {}
  for _, m in ipairs(dead) do
    local name = name_of(m)
    if not announced[name] and not present(name) then
      announced[name] = true
      announce('left', name)
    end
  end
  return #dead
end
return 0
