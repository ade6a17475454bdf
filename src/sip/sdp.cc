// SDP origin and session-name rewriting. See sdp.h.
#include "sip/sdp.h"

#include <cstring>

#include "sip/grammar.h"

namespace tollgate::sip {

using ascii::iequals;
using detail::mediaType;
using detail::mediaTypeEquals;

namespace {

// The fields of "o=<username> <sess-id> <sess-version> <nettype> <addrtype>
// <unicast-address>" after "o=" (RFC 4566 §5.2), split on single spaces.
bool originFields(std::string_view v, std::string_view (&f)[6]) {
  size_t n = 0;
  size_t i = 0;
  while (n < 6) {
    size_t sp = v.find(' ', i);
    if (n == 5) {
      if (sp != std::string_view::npos) return false;
      f[n++] = v.substr(i);
      break;
    }
    if (sp == std::string_view::npos) return false;
    f[n++] = v.substr(i, sp - i);
    i = sp + 1;
  }
  for (std::string_view x : f) {
    if (x.empty()) return false;
  }
  return true;
}

bool allDigits(std::string_view s) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    if (!isDigit(c)) return false;
  }
  return true;
}

// Session-level i= (information), u= (URI), e= (email) and p= (phone):
// RFC 4566 §5.4-5.6, all optional.
bool isSenderDescription(std::string_view line) {
  return line.size() >= 2 && line[1] == '=' &&
         (line[0] == 'i' || line[0] == 'u' || line[0] == 'e' || line[0] == 'p');
}

}  // namespace

bool isSdp(std::string_view contentType) {
  // The form nearly every SDP body carries, without the full media-type
  // parse; anything else (parameters, spaces around '/') takes the full rule.
  static constexpr std::string_view kSdp = "application/sdp";
  if (contentType.empty()) return false;
  if (contentType.size() == kSdp.size() && iequals(contentType, kSdp)) return true;
  return mediaTypeEquals(mediaType(contentType), kSdp);
}

std::string rewriteSdpOrigin(std::string_view body, std::string_view address) {
  if (address.size() >= 2 && address.front() == '[' && address.back() == ']') {
    address = address.substr(1, address.size() - 2);
  }
  const std::string_view addrType = address.find(':') != std::string_view::npos ? "IP6" : "IP4";
  std::string out;
  out.reserve(body.size() + address.size() + 16);
  size_t copied = 0;  // body[copied, i) is still to be copied unchanged
  auto replaceLine = [&](size_t start, size_t end) {
    out.append(body.substr(copied, start - copied));
    copied = end;
  };
  bool originDone = false;
  bool nameDone = false;
  bool inMedia = false;  // past the first m= line: media-level fields
  size_t i = 0;
  while (i < body.size()) {
    const void* nl = std::memchr(body.data() + i, '\n', body.size() - i);
    const size_t lineEnd =
        nl == nullptr ? body.size()
                      : static_cast<size_t>(static_cast<const char*>(nl) - body.data()) + 1;
    if (lineEnd - i >= 2 && body[i + 1] == '=') {
      const char kind = body[i];
      std::string_view text = body.substr(i, lineEnd - i);  // without its ending
      if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      const std::string_view ending = body.substr(i + text.size(), lineEnd - i - text.size());
      if (kind == 'o' && !originDone) {
        originDone = true;
        std::string_view f[6];
        std::string_view id = "0";
        std::string_view version = "0";
        if (originFields(text.substr(2), f) && allDigits(f[1]) && allDigits(f[2])) {
          id = f[1];
          version = f[2];
        }
        replaceLine(i, lineEnd);
        out.append("o=- ").append(id).append(" ").append(version).append(" IN ");
        out.append(addrType).append(" ").append(address).append(ending);
      } else if (kind == 's' && !nameDone) {
        nameDone = true;
        replaceLine(i, lineEnd);
        out.append("s=-").append(ending);
      } else if (!inMedia && isSenderDescription(text)) {
        replaceLine(i, lineEnd);  // dropped: optional fields that describe the sender
      } else if (kind == 'm') {
        inMedia = true;
      }
    }
    i = lineEnd;
  }
  out.append(body.substr(copied));
  return out;
}

}  // namespace tollgate::sip
