-- The end-to-end benchmark's requests (wrk, see e2e.py): GET /item/<id>, where a fraction
-- `hit` of the ids are drawn from 1...warm (the warmed set) and the others are ids never
-- asked for before (so the cache misses them). Arguments: warm hit base.
local warm, hit, base = 1000, 1.0, 1000000000
local fresh = 0

local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("tid", threads)
end

function init(args)
    warm = tonumber(args[1]) or warm
    hit = tonumber(args[2]) or hit
    base = tonumber(args[3]) or base
    math.randomseed(base + (tid or 0) * 7919)
end

function request()
    local id
    if hit >= 1 or math.random() < hit then
        id = math.random(1, warm)
    else
        fresh = fresh + 1
        id = base + (tid or 0) * 100000000 + fresh
    end
    return wrk.format("GET", string.format("/item/%d", id))
end

function done(summary, latency, requests)
    local errors = summary.errors
    io.write(string.format(
        '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "socket_errors": %d, "non2xx": %d}\n',
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        errors.connect + errors.read + errors.write + errors.timeout, errors.status))
end
