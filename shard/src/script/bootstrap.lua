-- Runs once in every new Lua state, before any script. `R` holds the engine's raw
-- functions; what this returns is the runner the engine calls each script through.
-- It builds the `redis` table and Redis's sandbox: scripts see a read-only view of the
-- globals (a write fails with "Attempt to modify a readonly table", a read of a missing
-- global with "Script attempted to access nonexistent global variable").
local R = ...
local G = _G
local type, error, select, tostring = type, error, select, tostring
local raw_pcall, raw_xpcall, unpack = pcall, xpcall, unpack
local raw_setmetatable, raw_getmetatable, raw_rawset = setmetatable, getmetatable, rawset
local raw_setfenv, raw_getfenv, raw_loadstring, raw_load = setfenv, getfenv, loadstring, load

for _, name in ipairs({'dofile', 'loadfile', 'print', 'module', 'require', 'package', 'os', 'io'}) do
  G[name] = nil
end

local readonly = raw_setmetatable({}, {__mode = 'k'})
local function deny()
  error('Attempt to modify a readonly table', 2)
end

-- A read-only view of `t`; getmetatable() on it shows a table that is read-only too.
local function protect(t)
  local shown = {}
  raw_setmetatable(shown, {__newindex = deny, __metatable = shown})
  readonly[shown] = true
  local view = {}
  raw_setmetatable(view, {__index = t, __newindex = deny, __metatable = shown})
  readonly[view] = true
  return view
end

local redis = {}
redis.call = R.call
redis.pcall = R.pcall
redis.sha1hex = R.sha1hex
redis.log = R.log
redis.setresp = R.setresp
redis.set_repl = R.set_repl
redis.acl_check_cmd = R.acl_check_cmd
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then
    return {err = 'ERR wrong number or type of arguments'}
  end
  if e:sub(1, 1) ~= '-' then e = '-' .. e end
  return {err = R.error_text(e)}
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return {err = 'ERR wrong number or type of arguments'}
  end
  return {ok = s}
end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION = R.version
redis.REDIS_VERSION_NUM = R.version_num

local ENV
G.redis = protect(redis)
for _, lib in ipairs({'cjson', 'cmsgpack', 'bit', 'string', 'math', 'table', 'coroutine'}) do
  if type(R[lib]) == 'table' then
    G[lib] = protect(R[lib])
  elseif type(G[lib]) == 'table' then
    G[lib] = protect(G[lib])
  end
end

-- Redis's pcall hands back the message of an error table, and cannot catch SCRIPT KILL.
local function pack(...) return {n = select('#', ...), ...} end
G.pcall = function(...)
  local r = pack(raw_pcall(...))
  if not r[1] then
    if R.killed() then error(r[2], 0) end
    local e = r[2]
    if type(e) == 'userdata' then
      r[2] = R.message(e)
    elseif type(e) == 'table' and type(e.err) == 'string' then
      r[2] = e.err
    end
  end
  return unpack(r, 1, r.n)
end
G.xpcall = function(f, h)
  return raw_xpcall(f, function(e)
    if R.killed() then return e end
    return h(e)
  end)
end
-- Raised without a position: in Redis these checks are inside C functions.
G.setmetatable = function(t, mt)
  if readonly[t] then error('Attempt to modify a readonly table', 0) end
  return raw_setmetatable(t, mt)
end
G.rawset = function(t, k, v)
  if readonly[t] then error('Attempt to modify a readonly table', 0) end
  return raw_rawset(t, k, v)
end
-- Chunks loaded at run time see the same read-only globals; bytecode is refused.
G.loadstring = function(s, name)
  if type(s) == 'string' and s:byte(1) == 27 then
    return nil, 'attempt to load a binary chunk'
  end
  local f, e = raw_loadstring(s, name)
  if f then raw_setfenv(f, ENV) end
  return f, e
end
G.load = function(reader, name)
  local f, e = raw_load(reader, name)
  if f then raw_setfenv(f, ENV) end
  return f, e
end
G.getfenv = function(...)
  local env = raw_getfenv(...)
  if env == G then return ENV end
  return env
end

ENV = protect(G)
G._G = ENV
raw_setmetatable(G, {__index = function(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end})

local handler = R.err_handler
return ENV, function(f) return raw_xpcall(f, handler) end
