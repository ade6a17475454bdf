// The shared payloads' text form. See shared_codec.h.
#include "cluster/shared_codec.h"

#include <charconv>

#include "common/percent.h"

namespace tollgate::cluster {

namespace {
// Kept unescaped: what addresses, prefixes, node ids and numbers are made of.
constexpr std::string_view kKeep = "-_.~:/@+";
}  // namespace

std::string encodeShared(const std::vector<std::string_view>& fields) {
  std::string out(kSharedFormat);
  for (std::string_view f : fields) {
    out += ' ';
    // An empty field would vanish between two spaces: "%" alone marks it.
    out += f.empty() ? std::string("%") : percentEncode(f, kKeep);
  }
  return out;
}

std::optional<std::vector<std::string>> decodeShared(std::string_view payload) {
  if (payload.size() > kMaxSharedPayload) return std::nullopt;
  std::vector<std::string> fields;
  bool first = true;
  size_t pos = 0;
  while (pos <= payload.size()) {
    size_t end = payload.find(' ', pos);
    if (end == std::string_view::npos) end = payload.size();
    std::string_view f = payload.substr(pos, end - pos);
    if (first) {
      if (f != kSharedFormat) return std::nullopt;
      first = false;
    } else {
      if (fields.size() >= kMaxSharedFields) return std::nullopt;
      fields.push_back(f == "%" ? std::string() : percentDecode(f));
    }
    pos = end + 1;
  }
  if (first) return std::nullopt;
  return fields;
}

const RedisScript& storeAndPublishScript() {
  static const RedisScript s(R"lua(
local stored = 0
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or
   redis.call('HLEN', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  if tonumber(ARGV[5]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
  stored = 1
end
redis.call('PUBLISH', ARGV[4], ARGV[2])
return stored
)lua");
  return s;
}

const RedisScript& sweepExpiredScript() {
  static const RedisScript s(R"lua(
local now = tonumber(ARGV[1])
local at = tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local gone = 0
for i = 1, #all, 2 do
  local n, exp = 0, nil
  for w in string.gmatch(all[i + 1], '%S+') do
    n = n + 1
    if n == at then exp = tonumber(w) break end
  end
  if exp == nil or (exp ~= 0 and exp <= now) then
    redis.call('HDEL', KEYS[1], all[i])
    gone = gone + 1
  end
end
return gone
)lua");
  return s;
}

std::optional<int64_t> sharedInt(std::string_view field) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (ec != std::errc() || p != field.data() + field.size() || field.empty()) return std::nullopt;
  return v;
}

}  // namespace tollgate::cluster
