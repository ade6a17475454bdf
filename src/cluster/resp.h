// RESP2, the Redis wire protocol (redis.io/docs/reference/protocol-spec):
// commands encoded as arrays of bulk strings, replies parsed from a byte
// stream that may arrive in any split. Both through hiredis (the library's
// redisFormatCommandArgv and redisReader; its sockets are not used). A
// RespParser is confined to its connection.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/redis_link.h"

namespace tollgate::cluster {

// Appends the RESP encoding of one command to *out.
void encodeCommand(const std::vector<std::string>& argv, std::string* out);

// Longest reply buffer the parser holds before it gives up on the
// connection: a reply larger than this is not one of ours (the largest we
// ask for is a node list or a batch of counters).
inline constexpr size_t kMaxReplyBuffer = 64u << 20;

class RespParser {
 public:
  RespParser();
  ~RespParser();
  RespParser(const RespParser&) = delete;
  RespParser& operator=(const RespParser&) = delete;

  // Adds received bytes; false when the buffer bound is passed.
  bool feed(std::string_view bytes);
  // The next complete reply; nullopt when more bytes are needed. *error is
  // set (and the stream is unusable) on a protocol error.
  std::optional<RedisReply> next(bool* error);

 private:
  struct Reader;
  std::unique_ptr<Reader> reader_;
  size_t buffered_ = 0;
};

}  // namespace tollgate::cluster
