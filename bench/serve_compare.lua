-- wrk script for bench/serve_vs_llamacpp.sh: POSTs the request bodies of a
-- file (one JSON body per line) round-robin to one path.
-- args: PATH BODIES_FILE
bodies = {}
path = "/v1/completions"
counter = 0

function init(args)
    path = args[1] or path
    for line in io.lines(args[2]) do
        if #line > 0 then table.insert(bodies, line) end
    end
    counter = math.random(#bodies)
end

function request()
    counter = counter + 1
    return wrk.format("POST", path, {["Content-Type"] = "application/json"},
        bodies[(counter % #bodies) + 1])
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

non200 = 0

function response(status, headers, body)
    if status ~= 200 then non200 = non200 + 1 end
end

function done(summary, latency, requests)
    local non = 0
    for _, t in ipairs(threads) do non = non + t:get("non200") end
    local e = summary.errors
    io.write(string.format(
        "RESULT requests %d errors %d (connect %d read %d write %d timeout %d non-200 %d) " ..
        "seconds %.1f req/s %.2f p50 %.1f ms p99 %.1f ms\n",
        summary.requests, e.connect + e.read + e.write + e.timeout + non, e.connect, e.read, e.write,
        e.timeout, non, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
