-- wrk script: GET pages of PATHS (comma-separated), round-robin; a path ending in `after=`
-- gets a random sequence number up to FEED_MAX, so feed pages come from all of the log.
local token = os.getenv("TOKEN")
local paths = {}
for p in string.gmatch(os.getenv("PATHS"), "[^,]+") do paths[#paths + 1] = p end
local feed_max = tonumber(os.getenv("FEED_MAX") or "0")
local n = 0

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  n = n + 1
  local p = paths[(n % #paths) + 1]
  if string.sub(p, -6) == "after=" then
    p = p .. math.random(0, math.max(feed_max - 50, 0))
  end
  return wrk.format("GET", p, { ["Authorization"] = "Bearer " .. token })
end

dofile(os.getenv("KIT") .. "/summary.lua")
