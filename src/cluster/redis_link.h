// RedisLink: this node's connection to the shared Redis, asynchronous on the
// worker's event loop (no thread, no lock, never a blocking call). Commands
// issued in one loop iteration leave in one write (pipelined); replies come
// back in order and run their callbacks on the worker. The link finds the
// master directly or through Sentinel (SENTINEL get-master-addr-by-name,
// then ROLE to confirm; it follows +switch-master and re-resolves after any
// failure), authenticates from the password file, optionally over TLS, and
// reconnects every cluster.reconnect_interval while down. Publish/subscribe
// uses a second connection to the same master. The wire protocol (RESP2) is
// encoded and parsed with hiredis (redisFormatCommandArgv, redisReader);
// the sockets and TLS are ours.
//
// Callers never wait on it: a callback gets nullptr when the link is down
// (the command was not sent) or no reply came within cluster.timeout.
//
// Confined to its worker.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/cluster_settings.h"
#include "common/event_loop.h"

namespace tollgate::cluster {

// One RESP2 reply, copied out of hiredis.
struct RedisReply {
  enum class Type : uint8_t { Nil, Integer, String, Status, Error, Array };
  Type type = Type::Nil;
  int64_t integer = 0;
  std::string str;  // String, Status, Error
  std::vector<RedisReply> elements;

  bool isError() const { return type == Type::Error; }
};

// nullptr: no reply (link down, or none within cluster.timeout).
using RedisCallback = std::function<void(const RedisReply* reply)>;

// A Lua script run by EVALSHA (loaded on every connection; EVAL when Redis
// answers NOSCRIPT). Construct once, keep for the link's lifetime.
class RedisScript {
 public:
  explicit RedisScript(std::string source);
  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }  // hex

 private:
  std::string source_;
  std::string sha1_;
};

enum class RedisRole : uint8_t { None, Master, Replica };

struct RedisLinkStats {
  bool up = false;
  std::string address;  // the master in use, "host:port"; "" when down
  RedisRole role = RedisRole::None;
  Millis latency{0};    // round trip of the last PING (every cluster.heartbeat)
  Micros latencyUs{0};  // the same, finer (a local Redis answers in well under 1 ms)
  uint64_t connects = 0;
  uint64_t downs = 0;      // times the link went down
  uint64_t failovers = 0;  // master changes seen through Sentinel
  uint64_t commands = 0;
  uint64_t timeouts = 0;  // commands that got no reply in time
  uint64_t errors = 0;    // -ERR replies
  uint64_t refused = 0;   // commands not sent: link down
  size_t pending = 0;     // commands awaiting a reply now
};

// Commands awaiting replies at most; beyond it new commands are refused
// (callback(nullptr)) rather than queued without bound.
inline constexpr size_t kMaxPendingCommands = 100'000;

class RedisLink {
 public:
  RedisLink(EventLoop& loop, const ClusterSettings& settings);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  void start();  // connects in the background; returns at once
  // Closes both connections; pending callbacks get nullptr and onDown runs
  // (when it was up). Destruction without stop() closes silently: no
  // callback runs.
  void stop();

  bool up() const;

  // Queues one command; `done` (may be empty) runs on the worker.
  void command(std::vector<std::string> argv, RedisCallback done = {});
  void eval(const RedisScript& script, std::vector<std::string> keys, std::vector<std::string> args,
            RedisCallback done = {});

  // Messages on `channel` (on the subscriber connection), on the worker.
  // Resubscribed after every reconnection.
  void subscribe(std::string channel, std::function<void(std::string_view message)> handler);

  // Run on the worker each time the link comes up (after AUTH/SELECT and
  // the subscriptions), and each time it goes down: owners of shared state
  // re-announce it on up (live call counts, bans), and switch to the
  // DownRule on down.
  void onUp(std::function<void()> fn);
  void onDown(std::function<void()> fn);

  RedisLinkStats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tollgate::cluster
