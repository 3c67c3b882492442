-- Mini-program login over wrk (wrk -s bench/lua/miniprogram_login.lua URL), two modes:
--
-- exchange (WRK_CODES_FILE set): POST {"code": ...} with a DIFFERENT pre-issued code per request,
--   since a code works once and a reused one answers 400.
--   WRK_CODES_FILE  one code per line (bench/miniprogram_login.py writes it)
--   WRK_OFFSET      lines of the file already spent by earlier runs (skipped)
--   WRK_STRIDE      wrk's thread count: thread t takes lines OFFSET+t, OFFSET+t+STRIDE, ...
--                   so no two threads ever send the same code
-- issue (no WRK_CODES_FILE): the same POST with an empty body on every request.
--
-- WRK_AUTH is the Authorization header value in both modes. done() prints one line that the
-- Python side parses to advance its offset past every code a request was built with (sent or
-- cut off by the end of the run), and to count requests that found the pool empty:
--   codes: stride S max_used N exhausted E
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end

-- thread state: globals, so that done() can read them with thread:get()
used, exhausted = 0, 0
local codes, headers, fixed, path

function init(args)
  path = wrk.path
  headers = {["Authorization"] = os.getenv("WRK_AUTH"), ["Accept"] = "application/json"}
  local file = os.getenv("WRK_CODES_FILE")
  if file == nil or file == "" then
    fixed = wrk.format("POST", path, headers)
    return
  end
  headers["Content-Type"] = "application/json"
  local offset = tonumber(os.getenv("WRK_OFFSET") or "0")
  local stride = tonumber(os.getenv("WRK_STRIDE") or "1")
  codes = {}
  local line_no = 0
  for line in io.lines(file) do
    if line_no >= offset and (line_no - offset) % stride == tid then
      codes[#codes + 1] = line
    end
    line_no = line_no + 1
  end
end

function request()
  if fixed then
    return fixed
  end
  used = used + 1
  local code = codes[used]
  if code == nil then
    -- the pool is spent: this request fails with 400 on purpose, and the run is reported invalid
    exhausted = exhausted + 1
    code = "pool-exhausted"
  end
  return wrk.format("POST", path, headers, '{"code":"' .. code .. '"}')
end

function done(summary, latency, requests)
  local most, empty = 0, 0
  for _, thread in ipairs(threads) do
    most = math.max(most, thread:get("used") or 0)
    empty = empty + (thread:get("exhausted") or 0)
  end
  io.write(string.format("codes: stride %d max_used %d exhausted %d\n", #threads, most, empty))
end
