// RESP2 through hiredis. See resp.h.
#include "cluster/resp.h"

#include <hiredis/hiredis.h>

namespace tollgate::cluster {
namespace {

RedisReply copyReply(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::String;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::Status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::Error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::Integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::Array;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(copyReply(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::Nil;
      break;
  }
  return out;
}

}  // namespace

void encodeCommand(const std::vector<std::string>& argv, std::string* out) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (const std::string& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  int n = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), ptrs.data(), lens.data());
  if (n > 0 && cmd != nullptr) out->append(cmd, static_cast<size_t>(n));
  redisFreeCommand(cmd);
}

struct RespParser::Reader {
  redisReader* r = redisReaderCreate();
  ~Reader() { redisReaderFree(r); }
};

RespParser::RespParser() : reader_(std::make_unique<Reader>()) {}
RespParser::~RespParser() = default;

bool RespParser::feed(std::string_view bytes) {
  if (reader_->r == nullptr) return false;
  buffered_ = reader_->r->len - reader_->r->pos + bytes.size();
  if (buffered_ > kMaxReplyBuffer) return false;
  return redisReaderFeed(reader_->r, bytes.data(), bytes.size()) == REDIS_OK;
}

std::optional<RedisReply> RespParser::next(bool* error) {
  *error = false;
  if (reader_->r == nullptr) {
    *error = true;
    return std::nullopt;
  }
  void* reply = nullptr;
  if (redisReaderGetReply(reader_->r, &reply) != REDIS_OK) {
    *error = true;
    return std::nullopt;
  }
  if (reply == nullptr) return std::nullopt;
  RedisReply out = copyReply(static_cast<redisReply*>(reply));
  freeReplyObject(reply);
  return out;
}

}  // namespace tollgate::cluster
