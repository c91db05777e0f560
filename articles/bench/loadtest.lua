-- `make loadtest`: every request is a path drawn at random from the file named after `--`
-- (one path a line, repeated by weight), and every answer is counted by its status.
local threads, made = {}, 0

function setup(thread)
  made = made + 1
  thread:set("seed", made)
  table.insert(threads, thread)
end

function init(args)
  paths, statuses = {}, {}
  for line in io.lines(args[1]) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  math.randomseed(seed)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  for status, count in pairs(total) do
    io.write(string.format("status %d %d\n", status, count))
  end
end
