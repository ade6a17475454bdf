// Turning messages back into bytes. Three tools:
//  - Edits + serialize(): the proxy/B2BUA way of forwarding a received
//    message with changes recorded against it (Kamailio "lumps"): replace the
//    start line, remove/replace/insert header fields, replace the body. The
//    original buffer is copied once, with the edits applied, on serialize().
//  - MessageWriter: composes a new message from scratch.
//  - makeResponse(): a response to a received request per RFC 3261 §8.2.6.
// Content-Length is always written by the serializer and always matches the
// body. Value types confined to their worker.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sip/message.h"

namespace tollgate::sip {

// Edits refer to header fields by their index in Message::headers().
class Edits {
 public:
  // Replaces the start line (give it without the trailing CRLF).
  void setStartLine(std::string line);
  void removeHeader(size_t index);
  // Removes every field with this id (needs the message to find them).
  void removeAll(const Message& m, HeaderId id);
  // Keeps the field's name as received, replaces its value.
  void replaceValue(size_t index, std::string value);
  // Inserts a new field before header `index`.
  void insertBefore(size_t index, std::string name, std::string value);
  // New fields before the first / after the last existing field.
  void prepend(std::string name, std::string value);
  void append(std::string name, std::string value);
  // Replaces the body; the Content-Type field is replaced too when given.
  void setBody(std::string body);
  // Replaces the body and the (first) Content-Type value, adding the field
  // when the message had none; an empty contentType removes the field.
  void setBody(std::string body, std::string contentType);

  bool empty() const;

 private:
  friend std::string serialize(const Message& m, const Edits& e);
  struct Insert {
    size_t before;  // header index; SIZE_MAX-1 = prepend, SIZE_MAX = append
    std::string name;
    std::string value;
  };
  std::string startLine_;
  bool hasStartLine_ = false;
  std::vector<size_t> removed_;
  std::vector<std::pair<size_t, std::string>> replaced_;
  std::vector<Insert> inserts_;  // kept in call order within one position
  std::string body_;
  bool hasBody_ = false;
  std::string contentType_;
  bool hasContentType_ = false;
};

// Applies the edits. Removed fields vanish; Content-Length is rewritten (in
// long form) with the final body size, and added when the message had none.
// Unedited fields are copied byte for byte as received (folds already undone),
// so serialize(m, {}) reproduces m.raw() except for leading CRLFs, folds and
// the Content-Length line. Inserted values have any CR/LF replaced by SP, so
// an edit can never inject a header line. Inserted Content-Length fields are
// ignored (the serializer writes its own).
std::string serialize(const Message& m, const Edits& e);

class MessageWriter {
 public:
  explicit MessageWriter(size_t reserve = 1024);
  MessageWriter& requestLine(std::string_view method, std::string_view uri);
  MessageWriter& statusLine(int status, std::string_view reason);
  MessageWriter& header(std::string_view name, std::string_view value);
  // Copies a received field as "Name: value".
  MessageWriter& header(const Header& h) { return header(h.name, h.value); }
  // Appends Content-Length, the empty line and the body; returns the message.
  std::string finish(std::string_view body = {});

 private:
  std::string out_;
};

struct ExtraHeader {
  std::string_view name;
  std::string_view value;
};

// A response to `request` (RFC 3261 §8.2.6.2): every Via in order (one Via
// line per value), From, To (with toTag added when the request's To had none,
// toTag is not empty and status is not 100), Call-ID and CSeq copied; for a
// 101-299 response to a dialog-creating request (INVITE, SUBSCRIBE, REFER,
// NOTIFY) the Record-Route fields too (RFC 3261 §12.1.1); then `extra`
// fields and the body. topVia, when not empty, replaces the first Via value
// (used to add received/rport, RFC 3581 §4). reason "" means
// reasonPhrase(status).
std::string makeResponse(const Message& request, int status, std::string_view reason,
                         std::string_view toTag, const std::vector<ExtraHeader>& extra = {},
                         std::string_view body = {}, std::string_view topVia = {});

// Best-effort error response for bytes that failed to parse: copies the
// Via, From, To, Call-ID and CSeq lines found in the raw header section (no
// validation) and adds a To tag, then the `extra` fields (e.g. the
// shield's 503 adds Retry-After). Returns "" when no Via line is present,
// or when the input is a response: then nothing can or should be sent.
// topViaParams (";oc=..." of RFC 7339) is appended to the first via-parm.
std::string makeErrorResponse(std::string_view raw, int status, std::string_view reason,
                              std::string_view toTag, const std::vector<ExtraHeader>& extra = {},
                              std::string_view topViaParams = {});

}  // namespace tollgate::sip
