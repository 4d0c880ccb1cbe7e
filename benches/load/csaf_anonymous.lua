-- wrk script: anonymous GETs of the public CSAF tree (PATHS, comma-separated, round-robin).
-- With SPREAD=1 each request claims another client address in X-Forwarded-For (the service
-- must trust 127.0.0.1 as a proxy), so the per-address limit does not apply and the cost of
-- serving is measured; without it every request is from 127.0.0.1 and the limit answers.
local paths = {}
for p in string.gmatch(os.getenv("PATHS"), "[^,]+") do paths[#paths + 1] = p end
local spread = os.getenv("SPREAD") == "1"
local n = 0

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  n = n + 1
  local headers = {}
  if spread then
    headers["X-Forwarded-For"] = string.format("2001:db8:%x:%x::1", math.random(0, 65535), math.random(0, 65535))
  end
  return wrk.format("GET", paths[(n % #paths) + 1], headers)
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d non2xx=%d p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.errors.status, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000))
end
