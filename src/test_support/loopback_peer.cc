// A SIP peer on a loopback UDP socket, for unit tests. See loopback_peer.h.
#include "test_support/loopback_peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>

namespace tollgate::test_support {

namespace {

// Largest UDP datagram a peer reads (RFC 768 length field).
constexpr size_t kMaxDatagram = 65536;

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

// The header lines of `msg` (between the start line and the blank line).
template <typename Fn>
void forEachHeaderLine(std::string_view msg, Fn&& fn) {
  size_t pos = msg.find("\r\n");
  if (pos == std::string_view::npos) return;
  pos += 2;
  while (pos < msg.size()) {
    size_t end = msg.find("\r\n", pos);
    if (end == std::string_view::npos) end = msg.size();
    std::string_view line = msg.substr(pos, end - pos);
    if (line.empty()) return;
    fn(line);
    pos = end + 2;
  }
}

bool hasName(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || line[name.size()] != ':') return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) !=
        std::tolower(static_cast<unsigned char>(name[i]))) {
      return false;
    }
  }
  return true;
}

std::string valueOf(std::string_view line, std::string_view name) {
  size_t pos = name.size() + 1;
  while (pos < line.size() && line[pos] == ' ') ++pos;
  return std::string(line.substr(pos));
}

}  // namespace

LoopbackPeer::LoopbackPeer(const std::string& ip) : ip_(ip) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) std::abort();  // a test machine without sockets cannot run these tests
  sockaddr_in a = loopback(0);
  if (::inet_pton(AF_INET, ip_.c_str(), &a.sin_addr) != 1) std::abort();
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::abort();
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
}

LoopbackPeer::~LoopbackPeer() {
  ::close(fd_);
}

std::string LoopbackPeer::hostPort() const {
  return ip_ + ":" + std::to_string(port_);
}

void LoopbackPeer::sendTo(uint16_t port, const std::string& bytes) {
  sockaddr_in a = loopback(port);
  ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
}

std::vector<Datagram> LoopbackPeer::receive() {
  std::vector<Datagram> out;
  std::string buf(kMaxDatagram, '\0');
  for (;;) {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n =
        ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0) break;
    Datagram d{buf.substr(0, static_cast<size_t>(n)), ntohs(from.sin_port)};
    received_.push_back(d.bytes);
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<std::string> LoopbackPeer::drain() {
  std::vector<std::string> out;
  for (Datagram& d : receive()) out.push_back(std::move(d.bytes));
  return out;
}

std::vector<std::string> LoopbackPeer::with(std::string_view start) const {
  std::vector<std::string> out;
  for (const std::string& m : received_) {
    if (std::string_view(m).substr(0, start.size()) == start) out.push_back(m);
  }
  return out;
}

std::string headerValue(std::string_view msg, std::string_view name) {
  std::string out;
  bool found = false;
  forEachHeaderLine(msg, [&](std::string_view line) {
    if (!found && hasName(line, name)) {
      out = valueOf(line, name);
      found = true;
    }
  });
  return out;
}

std::vector<std::string> headerValues(std::string_view msg, std::string_view name) {
  std::vector<std::string> out;
  forEachHeaderLine(msg, [&](std::string_view line) {
    if (hasName(line, name)) out.push_back(valueOf(line, name));
  });
  return out;
}

int statusOf(std::string_view msg) {
  if (msg.substr(0, 8) != "SIP/2.0 " || msg.size() < 11) return 0;
  return std::atoi(std::string(msg.substr(8, 3)).c_str());
}

std::string bodyOf(std::string_view msg) {
  size_t pos = msg.find("\r\n\r\n");
  return pos == std::string_view::npos ? std::string() : std::string(msg.substr(pos + 4));
}

std::string branchOf(std::string_view msg) {
  const std::string via = headerValue(msg, "Via");
  size_t pos = via.find(";branch=");
  if (pos == std::string::npos) return "";
  pos += 8;
  size_t end = via.find_first_of(";, ", pos);
  return via.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

sip::MessagePtr parseMessage(const std::string& msg) {
  auto r = sip::Message::parse(std::string(msg));
  if (!r.ok()) return nullptr;
  return std::move(*r);
}

std::string responseTo(std::string_view request, int status, std::string_view reason,
                       std::string_view toTag, std::string_view extraHeaders,
                       std::string_view body) {
  std::string out = "SIP/2.0 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  forEachHeaderLine(request, [&](std::string_view line) {
    for (std::string_view h : {"Via", "From", "Call-ID", "CSeq"}) {
      if (hasName(line, h)) out.append(line).append("\r\n");
    }
    if (hasName(line, "To")) {
      out.append(line);
      if (!toTag.empty() && line.find(";tag=") == std::string_view::npos) {
        out.append(";tag=").append(toTag);
      }
      out.append("\r\n");
    }
  });
  out.append(extraHeaders);
  if (!body.empty() && headerValue(out, "Content-Type").empty()) {
    out += "Content-Type: application/sdp\r\n";
  }
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out.append(body);
  return out;
}

std::string request(const RequestSpec& r) {
  std::string out = r.method + " " + r.uri + " SIP/2.0\r\n";
  out += "Via: SIP/2.0/UDP " + r.via + ";branch=" + r.branch + ";rport\r\n";
  out += "Max-Forwards: 70\r\n";
  out += "From: " + r.from + "\r\n";
  out += "To: " + r.to + "\r\n";
  out += "Call-ID: " + r.callId + "\r\n";
  out += "CSeq: " + std::to_string(r.cseq) + " " + r.method + "\r\n";
  out += r.extraHeaders;
  if (!r.body.empty() && headerValue(out, "Content-Type").empty()) {
    out += "Content-Type: application/sdp\r\n";
  }
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n";
  out += r.body;
  return out;
}

std::string cancelOf(std::string_view invite) {
  const std::string_view startLine = invite.substr(0, invite.find("\r\n"));
  const size_t uriStart = startLine.find(' ') + 1;
  const std::string uri(startLine.substr(uriStart, startLine.rfind(' ') - uriStart));
  const std::string cseq = headerValue(invite, "CSeq");
  std::string out = "CANCEL " + uri + " SIP/2.0\r\n";
  out += "Via: " + headerValue(invite, "Via") + "\r\n";
  out += "Max-Forwards: 70\r\n";
  out += "From: " + headerValue(invite, "From") + "\r\n";
  out += "To: " + headerValue(invite, "To") + "\r\n";
  out += "Call-ID: " + headerValue(invite, "Call-ID") + "\r\n";
  out += "CSeq: " + cseq.substr(0, cseq.find(' ')) + " CANCEL\r\n";
  out += "Content-Length: 0\r\n\r\n";
  return out;
}

std::string uriOf(std::string_view nameAddr) {
  const size_t lt = nameAddr.find('<');
  if (lt == std::string_view::npos) return std::string(nameAddr.substr(0, nameAddr.find(';')));
  const size_t gt = nameAddr.find('>', lt);
  return std::string(nameAddr.substr(lt + 1, gt - lt - 1));
}

std::string sdpLine(std::string_view body, std::string_view name) {
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > name.size() && line.substr(0, name.size()) == name &&
        line[name.size()] == '=') {
      return std::string(line.substr(name.size() + 1));
    }
    pos = end + 1;
  }
  return "";
}

}  // namespace tollgate::test_support
