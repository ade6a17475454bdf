// Content-Length framing of SIP over stream transports (RFC 3261 §18.3):
// finds where the next message ends in bytes read from a TCP/TLS connection,
// and recognises RFC 5626 §4.4.1 keep-alives (CRLFCRLF ping, CRLF pong).
// Pure function, no state: thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

namespace tollgate::sip {

struct Frame {
  enum Kind {
    NeedMore,  // no complete message yet; read more
    Message,   // [0, length) is one message (header section + body)
    // [0, length) is a keep-alive: 4 = CRLFCRLF ping (answer with a CRLF
    // pong); 2 = a CRLF pong or a stray CRLF before a message; 1 = a bare
    // LF (tolerated). "CRLF CR" is NeedMore: it may become a ping.
    KeepAlive,
    Error,  // unframeable: the connection must be closed
  };
  Kind kind = NeedMore;
  size_t length = 0;
  const char* error = "";  // for Error: why
};

// Stream rules: Content-Length (or "l") is required; a header section or
// message above kMaxMessageSize is an Error; a message whose Content-Length
// is not a valid number is an Error (framing is lost).
Frame nextFrame(std::string_view buffered);

}  // namespace tollgate::sip
