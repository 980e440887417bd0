-- wrk script of bench/bench_accept_balance.py: each thread (one connection) counts the answers
-- of the process that accepted it (the body is that process's pid); done() prints them.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  pid = "?"
  answers = 0
end

function response(status, headers, body)
  pid = body
  answers = answers + 1
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    io.write(string.format("thread %s %d\n", thread:get("pid"), thread:get("answers")))
  end
end
