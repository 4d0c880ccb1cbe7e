-- wrk script: 32 clients reporting new incidents, each request for the next seeded entity,
-- so every body is distinct. IDS names the file of entity ids (one a line), TOKEN the bearer.
local ids = {}
for line in io.lines(os.getenv("IDS")) do
  if #line > 0 then ids[#ids + 1] = line end
end
local token = os.getenv("TOKEN")
local counter = 0

function _setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end

function init(args)
  n = offset or 0
end

function request()
  n = n + 1
  local id = ids[(n % #ids) + 1]
  local body = '{"entity_id":"' .. id .. '","stage":"early_warning","aware_at":"' .. os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 3600) .. '","significant":'
    .. ((n % 2 == 0) and "true" or "false")
    .. ',"suspected_malicious":true,"summary":"Load test report ' .. n
    .. '","impact":{"users_affected":' .. (n % 5000) .. '},"root_cause":"system_failures","tlp":"AMBER"}'
  return wrk.format("POST", "/api/v1/incidents", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end

-- With ACKED set, the id of every report answered 201 is written to ACKED.<thread> (the
-- surge checks afterwards that each of them is stored).
local acked = os.getenv("ACKED")
local acked_file = nil
function _response(status, body)
  if acked and status == 201 then
    acked_file = acked_file or io.open(acked .. "." .. tostring(offset or 0), "a")
    local id = string.match(body, '^{"id":"([^"]+)"')
    if id then
      acked_file:write(id, "\n")
      acked_file:flush()
    end
  end
end

dofile(os.getenv("KIT") .. "/summary.lua")
