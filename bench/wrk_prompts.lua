-- wrk script of bench/bench_workers.py: each thread (one connection: run wrk with -t C -c C)
-- asks /healthz which worker accepted its connection, opens its own session there with the
-- management API (so the session is owned by that worker and relaying stays rare), then sends
-- prompt round trips to it. done() prints one line per thread: node, turns answered, failures.
-- Arguments (after --): chat client id, management API key.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  client_id = args[1]
  api_key = args[2]
  step = "health"
  node = "?"
  access_key = nil
  turns = 0
  failures = 0
end

function request()
  if step == "health" then
    return wrk.format("GET", "/healthz")
  elseif step == "open" then
    return wrk.format("POST", "/api/v1/web-chat-client/" .. client_id .. "/sessions",
      {["Authorization"] = "Bearer " .. api_key, ["Content-Type"] = "application/json"}, "{}")
  end
  return wrk.format("POST", "/api/v1/public/chat-clients/" .. access_key .. "/prompt",
    {["Content-Type"] = "application/json"}, '{"prompt":"hello there"}')
end

function response(status, headers, body)
  if step == "health" then
    node = string.match(body, '"node":"([^"]+)"') or "?"
    step = "open"
  elseif step == "open" then
    access_key = string.match(body, '"accessKey":"([^"]+)"')
    if access_key then step = "prompt" end
  elseif status == 200 then
    turns = turns + 1
  else
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    io.write(string.format("thread %s %d %d\n", thread:get("node"), thread:get("turns"),
      thread:get("failures")))
  end
  io.write(string.format("latency p50 %d p99 %d\n", latency:percentile(50),
    latency:percentile(99)))
end
