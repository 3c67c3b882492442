-- POST /oauth2/token with the client-credentials grant (wrk -s bench/lua/token.lua URL).
--   WRK_AUTH   "Basic base64(client_id:client_secret)" — client_secret_basic (RFC 6749 §2.3.1)
--   WRK_SCOPE  optional space-separated scope to request
-- Every request issues (and stores) a new access token.
local body = "grant_type=client_credentials"
local scope = os.getenv("WRK_SCOPE")
if scope and scope ~= "" then body = body .. "&scope=" .. scope:gsub(" ", "+") end

local formatted

function init(args)
  formatted = wrk.format("POST", wrk.path, {
    ["Authorization"] = os.getenv("WRK_AUTH"),
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Accept"] = "application/json",
  }, body)
end

function request()
  return formatted
end
