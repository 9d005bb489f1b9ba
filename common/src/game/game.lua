-- Every change to one game, as one atomic step: it validates seat, turn, cell and status,
-- applies the change, bumps the version, stores the game and publishes it on the game's
-- channel, so two nodes can never both accept a move for one turn.
--
-- KEYS[1] the game object (a JSON string), KEYS[2] its private seats hash: X and O hold the
-- seated tokens, seen:TOKEN the last sign of life (ms), rematch:SEAT a rematch request,
-- rematched the version the latest rematch started at, result:VERSION a finished game
-- whose result the leaderboard may not have counted yet.
-- ARGV[1] op, ARGV[2] now (ms), ARGV[3] PUBLISH or SPUBLISH, ARGV[4] channel,
-- ARGV[5] origin of the request (JSON, or '' for none), ARGV[6..] the op's arguments.
--
-- The turn clock: in a game between people, while it is playing, `turn_deadline` (ms) is
-- when the player to move loses by `timeout`. The ops that hand over the turn (join, move,
-- rematch) take the clock's length (ms, '0' for none) as their last argument; `clock` ends
-- a game whose deadline has passed (any node's sweeper runs it), and a move that comes
-- after the deadline ends the game the same way instead of being made.
--
-- Answers: {'state', GAME} changed and published (a third element 'ended' when the change
-- finished the game, for the results); {'again', GAME, SEAT, 'ended' or ''} a change
-- asked for again (see `move` and `rematch`): unchanged, but followed up as a change;
-- {'view', GAME, SEAT} unchanged, for the requester;
-- {'ack'}; {'wait', DEADLINE} (a clock not run out yet); {'err', CODE, MESSAGE}; and to
-- `expire`, {'swept', GAME or '', 'ended' or '', NOTED, TOKEN...}: the game if the check
-- changed it (published), whether that ended it, how many results are noted in the seats
-- hash (`result:VERSION`, not counted yet), and the tokens whose seats need no more checks.

local op, now, publish, channel, origin = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local null = cjson.null
local TTL = 86400 -- keys::GAME_TTL_SECS

local function err(code, message)
  return {'err', code, message}
end

local function load()
  local raw = redis.pcall('GET', KEYS[1])
  if type(raw) == 'table' and raw.err then
    -- A game an earlier release stored as a RedisJSON document: read it that way; its next
    -- change stores it as a string.
    raw = redis.call('JSON.GET', KEYS[1], '$')
    if not raw then
      return nil
    end
    return cjson.decode(raw)[1]
  end
  if not raw then
    return nil
  end
  return cjson.decode(raw)
end

local function other(seat)
  if seat == 'X' then return 'O' end
  return 'X'
end

local function seat_of(token)
  local seats = redis.call('HMGET', KEYS[2], 'X', 'O')
  if seats[1] == token then return 'X' end
  if seats[2] == token then return 'O' end
  return nil
end

local function empty_board()
  return {null, null, null, null, null, null, null, null, null}
end

local function keep()
  redis.call('EXPIRE', KEYS[1], TTL)
  redis.call('EXPIRE', KEYS[2], TTL)
end

-- Stores and publishes a changed game; returns its JSON. The keys' lifetime starts over
-- whenever the status changes (a move that does not end the game keeps it: a game in play
-- ends within ABANDON_SECS of its players' going).
local loaded_status = nil

local function commit(g)
  if g.status ~= 'playing' then
    g.turn_deadline = nil
  end
  g.version = g.version + 1
  local json = cjson.encode(g)
  redis.call('SET', KEYS[1], json, 'KEEPTTL')
  if g.status ~= loaded_status then
    keep()
  end
  if origin == '' then origin = 'null' end
  redis.call(publish, channel, '{"origin":' .. origin .. ',"game":' .. json .. '}')
  return json
end

-- Stores and publishes a change that finished the game, and in the same step notes its
-- result in the game's own keys (`result:VERSION` in the seats hash, the game as it
-- ended): the leaderboard lives in another slot, so it is counted in a second step, and
-- the note lets any node's sweeper count it if the node that made the change dies first.
local function ended(g)
  local json = commit(g)
  redis.call('HSET', KEYS[2], 'result:' .. g.version, json)
  return {'state', json, 'ended'}
end

-- Starts the clock of the player to move: `turn_ms` from now, in games between people.
local function start_clock(g, turn_ms)
  local ms = tonumber(turn_ms) or 0
  if g.status == 'playing' and not g.vs_bot and ms > 0 then
    g.turn_deadline = now + ms
  else
    g.turn_deadline = nil
  end
end

-- The line (three cells, 0..8) that `seat`'s mark in `cell` completes, if any: only the
-- lines through that cell can be new, and only of the mover's mark (looking at all eight
-- made a move cost Redis 7% more). Two lines completed at once give the first in the order
-- of `rules::LINES`: rows, columns, then the diagonals.
local function completed(b, cell, seat)
  local row = cell - cell % 3 + 1
  if b[row] == seat and b[row + 1] == seat and b[row + 2] == seat then
    return {row - 1, row, row + 1}
  end
  local col = cell % 3 + 1
  if b[col] == seat and b[col + 3] == seat and b[col + 6] == seat then
    return {col - 1, col + 2, col + 5}
  end
  if cell % 4 == 0 and b[1] == seat and b[5] == seat and b[9] == seat then
    return {0, 4, 8}
  end
  if (cell == 2 or cell == 4 or cell == 6) and b[3] == seat and b[5] == seat and b[7] == seat then
    return {2, 4, 6}
  end
  return nil
end

-- Whether the player to move has run out of time.
local function out_of_time(g)
  return g.status == 'playing' and g.turn_deadline ~= nil and now >= g.turn_deadline
end

local function finish(g, status, winner)
  g.status = status
  g.winner = winner
  g.next = null
end

-- The player in `seat` leaves (or is gone too long): a game in play is lost, a waiting game
-- just ends. A game between people shows who left (`left`), which also ends any talk of a
-- rematch: the player's own request is withdrawn and no new one is taken.
local function abandon(g, seat)
  if g.status == 'waiting' then
    finish(g, 'abandoned', null)
    return {'state', commit(g)}
  elseif g.status == 'playing' then
    finish(g, 'abandoned', other(seat))
    g.line = null
    if not g.vs_bot then
      g.left = seat
    end
    return ended(g)
  elseif g.vs_bot or g.left then
    return {'ack'}
  end
  g.left = seat
  g.rematch = nil
  redis.call('HDEL', KEYS[2], 'rematch:X', 'rematch:O')
  return {'state', commit(g)}
end

-- The player to move ran out of time: the other seat wins.
local function time_out(g)
  local winner = other(g.next)
  finish(g, 'timeout', winner)
  g.line = null
  return ended(g)
end

if op == 'create' then
  -- ARGV[6] id, ARGV[7] token, ARGV[8] name, ARGV[9] '1' against the bot, ARGV[10] '1' to not publish
  if redis.call('EXISTS', KEYS[1]) == 1 then
    -- The same create sent again by the node's Redis client, after its connection closed
    -- before the answer came back (IDs are random: no other request of this token names
    -- it): the game is made, so it is the answer.
    if redis.call('HGET', KEYS[2], 'X') == ARGV[7] then
      return {'view', cjson.encode(load()), 'X'}
    end
    return err('bad_request', 'a game with this id exists')
  end
  local g = {id = ARGV[6], board = empty_board(), next = null, players = {X = ARGV[8], O = null},
             status = 'waiting', winner = null, line = null, version = 0, vs_bot = false}
  redis.call('HSET', KEYS[2], 'X', ARGV[7], 'seen:' .. ARGV[7], now)
  if ARGV[9] == '1' then
    g.vs_bot = true
    g.players.O = 'bot'
    g.bot = 'O'
    g.status = 'playing'
    g.next = 'X'
    redis.call('HSET', KEYS[2], 'O', '@bot')
  end
  if ARGV[10] == '1' then
    g.version = 1
    local json = cjson.encode(g)
    redis.call('SET', KEYS[1], json)
    keep()
    return {'view', json, 'X'}
  end
  return {'state', commit(g)}
end

local g = load()
if not g then
  return err('not_found', 'no such game')
end
loaded_status = g.status

if op == 'join' then
  -- ARGV[6] token, ARGV[7] name, ARGV[8] '1' when the caller wants a seat, not to watch,
  -- ARGV[9] the turn clock (ms)
  local seat = seat_of(ARGV[6])
  if seat then
    redis.call('HSET', KEYS[2], 'seen:' .. ARGV[6], now)
    return {'view', cjson.encode(g), seat}
  end
  if g.status == 'waiting' and g.players.O == null then
    redis.call('HSET', KEYS[2], 'O', ARGV[6], 'seen:' .. ARGV[6], now)
    g.players.O = ARGV[7]
    g.status = 'playing'
    g.next = 'X'
    start_clock(g, ARGV[9])
    return {'state', commit(g)}
  end
  if ARGV[8] == '1' then
    if g.status == 'waiting' or g.status == 'playing' then
      return err('game_full', 'both seats are taken')
    end
    return err('game_over', 'the game is over')
  end
  return {'view', cjson.encode(g), ''}

elseif op == 'move' then
  -- ARGV[6] token, ARGV[7] cell (0..8), ARGV[8] the turn clock (ms)
  local seat = seat_of(ARGV[6])
  if not seat then
    return err('forbidden', 'spectators cannot move')
  end
  local cell = tonumber(ARGV[7])
  if cell ~= nil and cell == g.last_move and g.board[cell + 1] == seat then
    -- This seat's latest move, asked for again: the node's Redis client sends a command
    -- again when its connection closed before the answer came back (a failover, a network
    -- blip), and a player may click twice. The move is made, so the game as it is now is
    -- the answer, to the mover only, and the node follows up on it as on a change, in case
    -- the first answer never reached it (a result is counted once, a bot's turn taken once:
    -- both go by the game's version).
    local ended = ''
    if g.status ~= 'playing' and g.status ~= 'waiting' then
      ended = 'ended'
    end
    return {'again', cjson.encode(g), seat, ended}
  end
  if g.status == 'waiting' then
    return err('not_your_turn', 'waiting for an opponent')
  end
  if g.status ~= 'playing' then
    return err('game_over', 'the game is over')
  end
  if out_of_time(g) then
    return time_out(g)
  end
  if g.next ~= seat then
    return err('not_your_turn', 'it is ' .. g.next .. "'s turn")
  end
  if not cell or cell < 0 or cell > 8 or cell % 1 ~= 0 then
    return err('bad_request', 'cell must be 0 to 8')
  end
  if g.board[cell + 1] ~= null then
    return err('cell_taken', 'that cell is taken')
  end
  -- No sign of life is written here: the node holding the player's socket refreshes it
  -- (`seen:TOKEN`) three times within ABANDON_SECS while the socket is open.
  g.board[cell + 1] = seat
  g.last_move = cell
  local line = completed(g.board, cell, seat)
  if line then
    finish(g, 'won', seat)
    g.line = line
    return ended(g)
  end
  for i = 1, 9 do
    if g.board[i] == null then
      g.next = other(seat)
      start_clock(g, ARGV[8])
      return {'state', commit(g)}
    end
  end
  finish(g, 'draw', null)
  return ended(g)

elseif op == 'rematch' then
  -- ARGV[6] token, ARGV[7] the turn clock (ms)
  local seat = seat_of(ARGV[6])
  if not seat then
    return err('forbidden', 'only players can ask for a rematch')
  end
  if g.status == 'playing' and redis.call('HGET', KEYS[2], 'rematched') == tostring(g.version) then
    -- A request for the rematch that has just started (nothing changed since), sent
    -- again (see `move`) or clicked twice: the game as it is now is the answer.
    return {'again', cjson.encode(g), seat, ''}
  end
  if g.status == 'playing' or g.status == 'waiting' then
    return err('bad_request', 'the game is not over')
  end
  if g.left then
    return err('game_over', 'the other player left')
  end
  if not g.vs_bot and redis.call('HGET', KEYS[2], 'rematch:' .. other(seat)) ~= '1' then
    -- The first to ask: everyone in the game sees it (`rematch` names the seat), and the
    -- asker gets its ack, so the published state carries no request of its own.
    if redis.call('HSET', KEYS[2], 'rematch:' .. seat, '1') == 1 then
      g.rematch = seat
      origin = ''
      commit(g)
    end
    return {'ack'}
  end
  local s = redis.call('HMGET', KEYS[2], 'X', 'O')
  redis.call('HSET', KEYS[2], 'X', s[2], 'O', s[1], 'rematched', g.version + 1)
  redis.call('HDEL', KEYS[2], 'rematch:X', 'rematch:O')
  g.rematch = nil
  g.players.X, g.players.O = g.players.O, g.players.X
  if g.vs_bot then
    g.bot = other(g.bot)
  end
  g.board = empty_board()
  g.last_move = nil
  g.status = 'playing'
  g.next = 'X'
  g.winner = null
  g.line = null
  start_clock(g, ARGV[7])
  return {'state', commit(g)}

elseif op == 'clock' then
  -- Ends the game if the player to move has run out of time.
  if out_of_time(g) then
    return time_out(g)
  end
  if g.status == 'playing' and g.turn_deadline ~= nil then
    return {'wait', string.format('%d', g.turn_deadline)}
  end
  return {'ack'}

elseif op == 'leave' then
  -- ARGV[6] token
  local seat = seat_of(ARGV[6])
  if not seat then
    return {'ack'}
  end
  return abandon(g, seat)

elseif op == 'expire' then
  -- ARGV[6] how long (ms) a seat may go without a sign of life, ARGV[7..] the seated
  -- tokens whose deadline passed (a sweep checks all of a game's at once). Each one gone
  -- that long abandons its seat, in order.
  local limit = tonumber(ARGV[6])
  local seats = redis.call('HMGET', KEYS[2], 'X', 'O')
  local answer = {'swept', '', '', '0'}
  local gone = {}
  for i = 7, #ARGV do
    local token = ARGV[i]
    local seat = (seats[1] == token and 'X') or (seats[2] == token and 'O') or nil
    if not seat then
      gone[#gone + 1] = token
    else
      local seen = tonumber(redis.call('HGET', KEYS[2], 'seen:' .. token)) or 0
      if not ((g.status == 'playing' or g.status == 'waiting') and now - seen < limit) then
        gone[#gone + 1] = token
        local done = abandon(g, seat)
        if done[1] == 'state' then
          answer[2] = done[2]
          answer[3] = done[3] or answer[3]
        end
      end
    end
  end
  if g.status ~= 'playing' and g.status ~= 'waiting' and g.left then
    -- Settled: a finished game a player has left takes no rematch, so no seat can change
    -- it any more, and every seat's check can go, also those not due yet.
    gone = {}
    for _, token in ipairs(seats) do
      if token then
        gone[#gone + 1] = token
      end
    end
  end
  local noted = 0
  for _, field in ipairs(redis.call('HKEYS', KEYS[2])) do
    if string.sub(field, 1, 7) == 'result:' then
      noted = noted + 1
    end
  end
  answer[4] = tostring(noted)
  for _, token in ipairs(gone) do
    answer[#answer + 1] = token
  end
  return answer
end

return err('bad_request', 'unknown game operation')
