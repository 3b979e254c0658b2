-- wrk script for bench/serve_wrk.sh: POST /api/v1/infer round-robin over
-- three programs with short inputs.  A thread stops sending after `limit`
-- answers (the first script argument; a safety net: the script stops wrk
-- once the server has answered that many in all).
local programs = {"bench-a", "bench-b", "bench-c"}
local inputs = {"great", "awful", "fine", "bad", "nice", "sad", "ok", "grim"}
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    limit = tonumber(args[1]) or 5000
    answered, non200, counter = 0, 0, 0
end

function request()
    counter = counter + 1
    local body = string.format('{"program_id":"%s","input":"%s","max_tokens":8}',
        programs[(counter % 3) + 1], inputs[(counter % #inputs) + 1])
    return wrk.format("POST", "/api/v1/infer", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
    answered = answered + 1
    if status ~= 200 then non200 = non200 + 1 end
    if answered >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
    local non = 0
    for _, t in ipairs(threads) do non = non + t:get("non200") end
    local e = summary.errors
    io.write(string.format(
        "RESULT requests %d errors %d (connect %d read %d write %d timeout %d non-200 %d) " ..
        "seconds %.1f req/s %.1f p50 %.1f ms p99 %.1f ms\n",
        summary.requests, e.connect + e.read + e.write + e.timeout + non, e.connect, e.read, e.write,
        e.timeout, non, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
