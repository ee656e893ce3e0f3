-- llmgw bench: wrk script. POSTs the body in $BENCH_BODY with the headers in
-- $BENCH_HEADERS ("Name: value" separated by "|"); counts non-2xx and socket
-- errors are reported by wrk itself.
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local hs = os.getenv("BENCH_HEADERS") or ""
for h in string.gmatch(hs, "[^|]+") do
  local k, v = string.match(h, "^%s*([^:]+):%s*(.-)%s*$")
  if k then wrk.headers[k] = v end
end
