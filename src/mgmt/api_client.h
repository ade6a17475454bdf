// The management API as the `tollgate` CLI uses it: one HTTP(S) request at
// a time to a node's API, with a bearer token. Streams (trace, CSV export)
// hand the body to a callback as it arrives; probeListener() tells a node
// that runs from one that does not. Externally synchronized (one client per
// thread), except stop(), which another thread may call.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace tollgate::mgmt {

struct ApiEndpoint {
  std::string host;  // IP literal
  int port = 0;
  bool tls = false;
  std::string caFile;  // HTTPS: certificate to trust (the node's own)
  std::string token;
};

struct ApiReply {
  int status = 0;     // 0 = no HTTP answer (see error)
  std::string body;   // empty when streamed
  std::string error;  // transport problem, for people
};

// Whether anything accepts a TCP connection at the endpoint's address: the
// one sure sign that no node runs is a refused connection (RST: nothing
// listens on the port). Accepted means something runs there; anything else
// (no answer within the timeout, no route, a local error) says neither.
enum class Listener : uint8_t { Accepting, Refused, Unknown };
struct ListenerProbe {
  Listener state = Listener::Unknown;
  std::string error;  // Unknown: why, for people
};
// Opens and closes one TCP connection (nothing is sent; the API counts it as
// an accepted connection that went away).
ListenerProbe probeListener(const ApiEndpoint& endpoint, std::chrono::milliseconds timeout);

class ApiClient {
 public:
  explicit ApiClient(ApiEndpoint endpoint);
  ~ApiClient();
  ApiClient(ApiClient&&) noexcept;
  ApiClient& operator=(ApiClient&&) noexcept;
  ApiReply request(const std::string& method, const std::string& path,
                   const std::string& jsonBody = "");
  // GET with the body passed to `onData` as it arrives; onData returns
  // false to stop.
  ApiReply stream(const std::string& path, const std::function<bool(const char*, size_t)>& onData);
  // Aborts a request in progress from another thread (Ctrl-C of a stream
  // that is waiting for data).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tollgate::mgmt
