-- Orders over wrk (wrk -s bench/lua/order_flow.lua URL): one POST per request, built from
--
--   WRK_AUTH         the Authorization header value
--   WRK_BODY         the JSON body; "{}" in it stands for the request's pool line (may be empty)
--   WRK_PATH         the path; "{}" in it stands for the request's pool line (default: the URL's)
--   WRK_IDEMPOTENCY  "1": a fresh Idempotency-Key per request, WRK_KEY_PREFIX-<thread>-<n>
--                    (the prefix is new for every run, so no key is ever sent twice)
--   WRK_LINES_FILE   a pool, one value per line (bench/order_flow.py writes it): a verification
--                    code, an order id or a payment id, each good for ONE request. Without it,
--                    every request is the same (placing an order).
--   WRK_OFFSET       lines of the file already spent by earlier runs (skipped)
--   WRK_STRIDE       wrk's thread count: thread t takes lines OFFSET+t, OFFSET+t+STRIDE, ...
--                    so no two threads ever send the same line
--
-- done() prints the line bench/miniprogram_login.py's CodePool parses to advance past every line
-- a request was built with (sent or cut off by the end of the run), and to count requests that
-- found the pool empty:
--   codes: stride S max_used N exhausted E
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end

-- thread state: globals, so that done() can read them with thread:get()
used, exhausted = 0, 0
local lines, headers, fixed, path_template, body_template, keyed, key_prefix

local function fill(template, value)
  local at = string.find(template, "{}", 1, true)
  if at == nil then
    return template
  end
  return string.sub(template, 1, at - 1) .. value .. string.sub(template, at + 2)
end

function init(args)
  path_template = os.getenv("WRK_PATH")
  if path_template == nil or path_template == "" then
    path_template = wrk.path
  end
  body_template = os.getenv("WRK_BODY") or ""
  headers = {["Authorization"] = os.getenv("WRK_AUTH"), ["Accept"] = "application/json"}
  if body_template ~= "" then
    headers["Content-Type"] = "application/json"
  end
  keyed = os.getenv("WRK_IDEMPOTENCY") == "1"
  key_prefix = (os.getenv("WRK_KEY_PREFIX") or "bench") .. "-" .. tid .. "-"
  local file = os.getenv("WRK_LINES_FILE")
  if file == nil or file == "" then
    if not keyed then
      fixed = wrk.format("POST", path_template, headers, body_template)
    end
    return
  end
  local offset = tonumber(os.getenv("WRK_OFFSET") or "0")
  local stride = tonumber(os.getenv("WRK_STRIDE") or "1")
  lines = {}
  local line_no = 0
  for line in io.lines(file) do
    if line_no >= offset and (line_no - offset) % stride == tid then
      lines[#lines + 1] = line
    end
    line_no = line_no + 1
  end
end

function request()
  if fixed then
    return fixed
  end
  used = used + 1
  local value = ""
  if lines then
    value = lines[used]
    if value == nil then
      -- the pool is spent: this request fails (404/409) on purpose, and the run is reported invalid
      exhausted = exhausted + 1
      value = "0000000000000000"
    end
  end
  if keyed then
    headers["Idempotency-Key"] = key_prefix .. used
  end
  return wrk.format("POST", fill(path_template, value), headers, fill(body_template, value))
end

function done(summary, latency, requests)
  local most, empty = 0, 0
  for _, thread in ipairs(threads) do
    most = math.max(most, thread:get("used") or 0)
    empty = empty + (thread:get("exhausted") or 0)
  end
  io.write(string.format("codes: stride %d max_used %d exhausted %d\n", #threads, most, empty))
end
