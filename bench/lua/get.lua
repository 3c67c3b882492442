-- GET one of a fixed set of paths, chosen at random per request (wrk -s bench/lua/get.lua).
--   WRK_PATHS  space-separated request paths, e.g. "/v1/merchants/mch_a /v1/merchants/mch_b"
--   WRK_AUTH   optional Authorization header value, e.g. "Bearer sjat_..."
-- Requests are formatted once per thread in init(), so the load generator (which shares the
-- cores with the server) does the same small amount of work for every endpoint, baseline or not.
local requests = {}

function init(args)
  local headers = {}
  local auth = os.getenv("WRK_AUTH")
  if auth and auth ~= "" then headers["Authorization"] = auth end
  for path in string.gmatch(os.getenv("WRK_PATHS") or "/", "%S+") do
    requests[#requests + 1] = wrk.format("GET", path, headers)
  end
  math.randomseed(os.time())
end

function request()
  return requests[math.random(#requests)]
end
