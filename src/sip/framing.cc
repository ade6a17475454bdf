// nextFrame: Content-Length framing for stream transports (RFC 3261 §18.3)
// and RFC 5626 §4.4.1 keep-alives.
//
// Stateless, so a caller feeding one byte at a time rescans the header
// section on each call: with memchr that is a few microseconds for the
// largest header section we allow, bounded by kMaxMessageSize.
#include "sip/framing.h"

#include <cstdint>

#include "sip/grammar.h"
#include "sip/limits.h"
#include "sip/message.h"

namespace tollgate::sip {

namespace {

Frame error(const char* why) {
  Frame f;
  f.kind = Frame::Error;
  f.error = why;
  return f;
}

Frame keepAlive(size_t length) {
  Frame f;
  f.kind = Frame::KeepAlive;
  f.length = length;
  return f;
}

// Finds the Content-Length value in a header section (the bytes after the
// start line, up to the empty line). Returns 1 with `value` set, 0 when
// absent, -1 when malformed or present twice (RFC 4475 §3.3.9 mcl01: the
// framing is then unknown and the connection must be closed).
int findContentLength(std::string_view headers, uint64_t& value) {
  int found = 0;
  size_t pos = 0;
  while (pos < headers.size()) {
    size_t nl = headers.find('\n', pos);
    size_t lineEnd = nl == std::string_view::npos ? headers.size() : nl;
    std::string_view line = headers.substr(pos, lineEnd - pos);
    size_t lineStart = pos;
    pos = lineEnd + 1;
    if (line.empty() || isWsp(line[0])) continue;  // continuation of another field
    size_t nameEnd = detail::scanTokens(line, 0);
    size_t colon = detail::skipWsp(line, nameEnd);
    if (nameEnd == 0 || colon >= line.size() || line[colon] != ':') continue;
    if (headerIdFromName(line.substr(0, nameEnd)) != HeaderId::ContentLength) continue;
    if (found != 0) return -1;
    found = 1;
    // The value runs to the end of the logical line: folds are possible.
    size_t valueStart = lineStart + colon + 1;
    size_t valueEnd = lineEnd;
    while (valueEnd + 1 < headers.size() && isWsp(headers[valueEnd + 1])) {
      size_t next = headers.find('\n', valueEnd + 1);
      valueEnd = next == std::string_view::npos ? headers.size() : next;
    }
    pos = valueEnd + 1;
    std::string_view v = headers.substr(valueStart, valueEnd - valueStart);
    size_t b = 0;
    size_t e = v.size();
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (b < e && space(v[b])) ++b;
    while (e > b && space(v[e - 1])) --e;
    if (!detail::parseDecimal(v.substr(b, e - b), 0xffffffffULL, value)) return -1;
  }
  return found;
}

}  // namespace

Frame nextFrame(std::string_view buffered) {
  if (buffered.empty()) return Frame{};
  // RFC 5626 §4.4.1: CRLFCRLF is a ping (answer CRLF), a CRLF alone a pong.
  // CRLFs before a message are consumed the same way (RFC 3261 §7.5).
  if (buffered[0] == '\r') {
    if (buffered.size() < 2) return Frame{};
    if (buffered[1] != '\n') return error("stray CR before a message");
    if (buffered.size() >= 4 && buffered[2] == '\r' && buffered[3] == '\n') return keepAlive(4);
    if (buffered.size() == 3 && buffered[2] == '\r') return Frame{};  // maybe a ping
    return keepAlive(2);
  }
  if (buffered[0] == '\n') return keepAlive(1);  // bare-LF keep-alive, tolerated

  std::string_view window = buffered.substr(0, kMaxMessageSize);
  detail::HeaderEnd end = detail::findHeaderEnd(window, 0);
  if (!end.found) {
    if (buffered.size() >= kMaxMessageSize) return error("header section too large");
    return Frame{};
  }
  size_t firstNl = buffered.find('\n');
  std::string_view headers = buffered.substr(firstNl + 1, end.emptyLine - firstNl - 1);
  uint64_t contentLength = 0;
  int r = findContentLength(headers, contentLength);
  if (r < 0) return error("malformed or repeated Content-Length");
  // RFC 3261 §18.3: Content-Length is mandatory on a stream.
  if (r == 0) return error("no Content-Length on a stream");
  if (contentLength > kMaxMessageSize - end.bodyStart) return error("message too large");
  size_t total = end.bodyStart + static_cast<size_t>(contentLength);
  if (buffered.size() < total) return Frame{};
  Frame f;
  f.kind = Frame::Message;
  f.length = total;
  return f;
}

}  // namespace tollgate::sip
