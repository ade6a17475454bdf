// ApiClient over cpp-httplib (api_client.h).
#include "mgmt/api_client.h"

#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/net.h"

namespace tollgate::mgmt {

struct ApiClient::Impl {
  explicit Impl(ApiEndpoint e) : ep(std::move(e)) {
    const std::string host = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
    const std::string url =
        (ep.tls ? "https://" : "http://") + host + ":" + std::to_string(ep.port);
    client = std::make_unique<httplib::Client>(url);
    if (ep.tls) {
      if (!ep.caFile.empty()) client->set_ca_cert_path(ep.caFile.c_str());
      client->enable_server_certificate_verification(true);
    }
    client->set_connection_timeout(5, 0);
    client->set_read_timeout(30, 0);
    client->set_write_timeout(10, 0);
    client->set_keep_alive(false);
  }
  httplib::Headers headers() const {
    httplib::Headers h;
    if (!ep.token.empty()) h.emplace("Authorization", "Bearer " + ep.token);
    return h;
  }
  ApiEndpoint ep;
  std::unique_ptr<httplib::Client> client;
};

ApiClient::ApiClient(ApiEndpoint endpoint) : impl_(std::make_unique<Impl>(std::move(endpoint))) {}
ApiClient::~ApiClient() = default;
ApiClient::ApiClient(ApiClient&&) noexcept = default;
ApiClient& ApiClient::operator=(ApiClient&&) noexcept = default;

namespace {
ApiReply toReply(const httplib::Result& r) {
  ApiReply out;
  if (!r) {
    out.error = httplib::to_string(r.error());
    return out;
  }
  out.status = r->status;
  out.body = r->body;
  return out;
}
}  // namespace

ApiReply ApiClient::request(const std::string& method, const std::string& path,
                            const std::string& jsonBody) {
  auto& c = *impl_->client;
  const auto h = impl_->headers();
  const char* type = "application/json";
  if (method == "GET") return toReply(c.Get(path, h));
  if (method == "DELETE") return toReply(c.Delete(path, h));
  if (method == "POST") return toReply(c.Post(path, h, jsonBody, type));
  if (method == "PUT") return toReply(c.Put(path, h, jsonBody, type));
  if (method == "PATCH") return toReply(c.Patch(path, h, jsonBody, type));
  ApiReply bad;
  bad.error = "unsupported method " + method;
  return bad;
}

void ApiClient::stop() {
  impl_->client->stop();
}

ApiReply ApiClient::stream(const std::string& path,
                           const std::function<bool(const char*, size_t)>& onData) {
  auto& c = *impl_->client;
  c.set_read_timeout(3600, 0);
  std::string errorBody;
  int status = 0;
  auto r = c.Get(
      path, impl_->headers(),
      [&](const httplib::Response& res) {
        status = res.status;
        return true;
      },
      [&](const char* data, size_t len) {
        if (status != 200) {
          if (errorBody.size() < 65536) errorBody.append(data, len);
          return true;
        }
        return onData(data, len);
      });
  ApiReply out;
  out.status = status;
  out.body = errorBody;
  if (!r && status == 0) out.error = httplib::to_string(r.error());
  return out;
}

ListenerProbe probeListener(const ApiEndpoint& endpoint, std::chrono::milliseconds timeout) {
  ListenerProbe out;
  auto ip = net::IpAddress::parse(endpoint.host);
  if (!ip || endpoint.port <= 0 || endpoint.port > 65535) {
    out.error = "not an address: " + endpoint.host + ":" + std::to_string(endpoint.port);
    return out;
  }
  sockaddr_storage sa{};
  const socklen_t len = net::SockAddr(*ip, static_cast<uint16_t>(endpoint.port)).toSockaddr(&sa);
  const int fd = ::socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    out.error = std::string("socket: ") + std::strerror(errno);
    return out;
  }
  int err = 0;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), len) != 0) {
    err = errno;
    if (err == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int r;
      do {
        r = ::poll(&p, 1, static_cast<int>(timeout.count()));
      } while (r < 0 && errno == EINTR);
      if (r == 0) {
        err = ETIMEDOUT;
      } else {
        socklen_t el = sizeof err;
        if (r < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) err = errno;
      }
    }
  }
  ::close(fd);
  if (err == 0) {
    out.state = Listener::Accepting;
  } else if (err == ECONNREFUSED) {
    out.state = Listener::Refused;
  } else {
    out.error = std::strerror(err);
  }
  return out;
}

}  // namespace tollgate::mgmt
