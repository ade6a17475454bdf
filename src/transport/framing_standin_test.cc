// TEMPORARY stand-in for sip::nextFrame until src/sip/framing.cc lands. Delete.
#include <cctype>
#include <string>

#include "sip/framing.h"
#include "sip/limits.h"

namespace tollgate::sip {

Frame nextFrame(std::string_view b) {
  Frame f;
  if (b.substr(0, 4) == "\r\n\r\n") return {Frame::KeepAlive, 4, ""};
  if (b.size() >= 3 && b.substr(0, 2) == "\r\n") return {Frame::KeepAlive, 2, ""};
  if (b == "\r\n") return f;
  size_t end = b.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (b.size() > kMaxMessageSize) return {Frame::Error, 0, "header too large"};
    return f;
  }
  std::string head(b.substr(0, end + 2));
  std::string lower;
  for (char c : head) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t p = lower.find("\r\ncontent-length:");
  if (p == std::string::npos) return {Frame::Error, 0, "no content-length"};
  p += 17;
  while (p < lower.size() && lower[p] == ' ') ++p;
  size_t q = p;
  size_t cl = 0;
  while (q < lower.size() && std::isdigit(static_cast<unsigned char>(lower[q]))) cl = cl * 10 + (lower[q++] - '0');
  if (q == p || lower[q] != '\r') return {Frame::Error, 0, "bad content-length"};
  size_t total = end + 4 + cl;
  if (total > kMaxMessageSize) return {Frame::Error, 0, "too large"};
  if (b.size() < total) return f;
  return {Frame::Message, total, ""};
}

}  // namespace tollgate::sip
