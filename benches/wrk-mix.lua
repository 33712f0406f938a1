-- Replays the BENCH.md query mix against `msgdex serve` with wrk:
--   msgdex gen-requests --data bench-data/1m.jsonl --seed 7 --per-template 20 > bench-data/mix.tsv
--   MIX=bench-data/mix.tsv wrk -t2 -c16 -d30s --latency -s benches/wrk-mix.lua http://127.0.0.1:8080
-- Each line of MIX is `T03<TAB>/v1/messages?…` (or a bare request target).
local targets = {}
for line in io.lines(os.getenv("MIX") or "bench-data/mix.tsv") do
  targets[#targets + 1] = line:match("\t(.*)$") or line
end

local threads = 0
function setup(thread)
  thread:set("start", threads * 97)
  threads = threads + 1
end

local position = 0
function request()
  position = position + 1
  return wrk.format("GET", targets[((position + (start or 0)) % #targets) + 1])
end
