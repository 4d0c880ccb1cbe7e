-- Shared by the wrk scripts: shows the first refusals and prints one machine-readable line.
local shown = 0

function setup(thread)
  if _setup then _setup(thread) end
end

function response(status, headers, body)
  if _response then _response(status, body) end
  if (status < 200 or status > 299) and shown < 2 then
    shown = shown + 1
    io.stderr:write("status " .. status .. ": " .. string.sub(body, 1, 300) .. "\n")
  end
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f timeouts=%d errors=%d non2xx=%d\n",
    summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.timeout,
    summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.status))
end
