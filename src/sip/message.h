// A parsed SIP message (RFC 3261 §7): requests and responses, zero-copy.
// Message owns exactly one buffer holding the bytes as received; every
// string_view handed out (start line, header names and values, URIs, Via
// fields, body) points into that buffer and lives as long as the Message.
// Copy anything kept past the Message's lifetime. Header folding (§7.3.1) is
// undone in place (CRLF+WSP becomes spaces) so views never contain line
// breaks. Value type confined to its worker; parsing is reentrant.
//
// What the parser checks: the start line, every header name, the headers a
// transaction needs (Via, From, To, Call-ID, CSeq, Max-Forwards,
// Content-Length) fully, Content-Type and Contact/Route/Record-Route syntax,
// singleton headers appearing twice, and body framing. Other header values
// are kept as text and parsed on demand by the helpers in this header. Lines
// may end in CRLF or (liberally) a bare LF. Limits: sip/limits.h.
// docs/sip-parser.md says what is accepted liberally and what is rejected.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tollgate::sip {

enum class Method : uint8_t {
  Unknown,
  Invite,
  Ack,
  Bye,
  Cancel,
  Options,
  Register,
  Prack,
  Update,
  Info,
  Subscribe,
  Notify,
  Refer,
  Message,
  Publish,
};
// Method names are case-sensitive (RFC 3261 §7.1); anything else is Unknown.
Method methodFromName(std::string_view name);
std::string_view methodName(Method m);  // "" for Unknown

enum class HeaderId : uint8_t {
  Other,
  Accept,
  AcceptEncoding,
  AcceptLanguage,
  Allow,
  Authorization,
  CallId,
  Contact,
  ContentDisposition,
  ContentEncoding,
  ContentLanguage,
  ContentLength,
  ContentType,
  CSeq,
  Date,
  Diversion,
  Event,
  Expires,
  From,
  MaxForwards,
  MinExpires,
  MinSE,
  PAssertedIdentity,
  PPreferredIdentity,
  Privacy,
  ProxyAuthenticate,
  ProxyAuthorization,
  ProxyRequire,
  RAck,
  RecordRoute,
  ReferTo,
  RemotePartyId,
  Require,
  RetryAfter,
  Route,
  RSeq,
  Server,
  SessionExpires,
  Subject,
  Supported,
  Timestamp,
  To,
  Unsupported,
  UserAgent,
  Via,
  Warning,
  WwwAuthenticate,
  // Added after the first cut (kept at the end so existing values stay put).
  AllowEvents,         // RFC 6665, compact "u"
  ReferredBy,          // RFC 3892, compact "b"
  AcceptContact,       // RFC 3841, compact "a"
  RejectContact,       // RFC 3841, compact "j"
  RequestDisposition,  // RFC 3841, compact "d"
  Identity,            // RFC 8224, compact "y"
  Reason,              // RFC 3326
  Path,                // RFC 3327
  SubscriptionState,   // RFC 6665
};
// Case-insensitive; knows the compact forms of RFC 3261 (i m e l c f s k t v)
// and of the extensions in this enum (o r x u b a j d y).
HeaderId headerIdFromName(std::string_view name);
// Canonical long name, e.g. "Call-ID"; "" for Other.
std::string_view headerName(HeaderId id);

// A name=value parameter list as written after a URI, a name-addr or a Via:
// ";a=1;b;c=2". Lookup is case-insensitive on the name. A flag parameter
// (no '=') has an empty value.
std::optional<std::string_view> findParam(std::string_view params, std::string_view name);
// Where the ';'-separated parameter starting at `from` in such a list ends:
// at the next ';' outside a quoted string (backslash escapes honoured), or
// at params.size(). findParam() and every parameter rewriter split with it.
size_t paramEnd(std::string_view params, size_t from);

enum class UriScheme : uint8_t { Sip, Sips, Tel, Other };

// RFC 3261 §19.1 SIP/SIPS URI, RFC 3966 tel URI, or any absolute URI
// (scheme ":" opaque part) kept as text.
struct Uri {
  UriScheme scheme = UriScheme::Other;
  std::string_view text;        // the whole URI as written
  std::string_view schemeName;  // as written: "sip", "SIP", "tel", "urn", ...
  std::string_view user;        // escaped as written; for tel: the subscriber number
  std::string_view password;
  std::string_view host;     // as written; an IPv6 reference keeps its brackets
  uint16_t port = 0;         // 0 when absent
  std::string_view params;   // ";transport=tcp;lr" with the leading ';', or empty
  std::string_view headers;  // after '?', without it, or empty

  bool isSipLike() const { return scheme == UriScheme::Sip || scheme == UriScheme::Sips; }
  std::optional<std::string_view> param(std::string_view name) const {
    return findParam(params, name);
  }
};

// name-addr or addr-spec with header parameters (From, To, Contact, Route...).
struct NameAddr {
  std::string_view text;         // the whole value
  std::string_view displayName;  // without surrounding quotes, still escaped; may be empty
  bool angleBrackets = false;    // the URI was written in <>
  Uri uri;
  std::string_view params;  // header params after the URI: ";tag=x;expires=60"

  std::optional<std::string_view> param(std::string_view name) const {
    return findParam(params, name);
  }
  std::string_view tag() const { return param("tag").value_or(std::string_view{}); }
};

// One via-parm (RFC 3261 §20.42, RFC 3581 rport).
struct Via {
  std::string_view text;       // the whole via-parm
  std::string_view transport;  // "UDP", "TCP", "TLS", "SCTP", "WS", ... as written
  std::string_view host;       // sent-by host as written; IPv6 keeps its brackets
  uint16_t port = 0;           // 0 when absent
  std::string_view params;     // with the leading ';', or empty
  std::string_view branch;     // empty when absent
  std::string_view received;   // empty when absent
  bool hasRport = false;       // rport present (with or without a value)
  uint16_t rport = 0;          // its value, 0 when it had none

  std::optional<std::string_view> param(std::string_view name) const {
    return findParam(params, name);
  }
};

struct CSeq {
  uint32_t number = 0;  // RFC 3261 §8.1.1.5: less than 2**31
  Method method = Method::Unknown;
  std::string_view methodName;
};

struct Header {
  HeaderId id = HeaderId::Other;
  std::string_view name;   // as received (possibly compact)
  std::string_view value;  // trimmed, unfolded
  std::string_view raw;    // the whole field line as received (unfolded), without CRLF
};

enum class ParseErrorCode : uint8_t {
  Empty,
  TooLarge,
  Incomplete,  // header section not terminated by an empty line
  BadStartLine,
  BadVersion,
  BadStatusCode,
  BadMethod,
  BadRequestUri,
  BadHeaderLine,
  TooManyHeaders,
  TooManyVias,
  MissingHeader,
  DuplicateHeader,
  BadVia,
  BadFrom,
  BadTo,
  BadCallId,
  BadCSeq,
  CSeqMethodMismatch,
  BadMaxForwards,
  BadContentLength,
  BodyTooShort,  // Content-Length larger than the bytes present
  BadContact,
  BadRoute,
  BadHeaderValue,
};

struct ParseError {
  ParseErrorCode code = ParseErrorCode::Empty;
  const char* detail = "";  // static text for logs and `tollgate lint`
  // The response a UAS gives (400; 505 bad version; 513 too large or too
  // many fields; 483 too many Vias; 414 Request-URI too long) or 0 to drop
  // silently (malformed responses, input that does not even look like SIP).
  // docs/sip-parser.md has the full mapping.
  int status = 0;
  bool isRequest = false;  // the start line looked like a request
};

class Message;
using MessagePtr = std::unique_ptr<Message>;

class Message {
 public:
  // Parses one complete message: a whole UDP datagram or one framed stream
  // message. Bytes after Content-Length are ignored (RFC 3261 §18.3); with no
  // Content-Length the body is the rest of the buffer (datagram rule).
  // On failure the bytes are left in `bytes` (folding possibly undone), so
  // the caller can still build an error response from them.
  static Result<MessagePtr, ParseError> parse(std::string&& bytes);

  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  bool isRequest() const { return isRequest_; }
  bool isResponse() const { return !isRequest_; }

  // Requests.
  Method method() const { return method_; }
  std::string_view methodName() const { return methodName_; }
  const Uri& requestUri() const { return requestUri_; }

  // Responses.
  int status() const { return status_; }
  std::string_view reason() const { return reason_; }

  std::string_view startLine() const { return startLine_; }

  // Every header field in order; a line "Via: a, b" stays one field.
  const std::vector<Header>& headers() const { return headers_; }
  const Header* header(HeaderId id) const;            // first field with this id
  const Header* header(std::string_view name) const;  // by name, case-insensitive
  size_t headerCount(HeaderId id) const;

  // Every Via value in order, across fields and commas; never empty.
  const std::vector<Via>& vias() const { return vias_; }
  const Via& topVia() const { return vias_.front(); }
  const NameAddr& from() const { return from_; }
  const NameAddr& to() const { return to_; }
  std::string_view callId() const { return callId_; }
  const CSeq& cseq() const { return cseq_; }
  std::optional<uint32_t> maxForwards() const { return maxForwards_; }
  // The Content-Type value as written, parameters included; "" when absent.
  std::string_view contentType() const;
  // The Content-Length value; nullopt when the message had none (datagram).
  std::optional<uint32_t> contentLength() const { return contentLength_; }
  std::string_view body() const { return body_; }

  // The bytes of this message from its start line (leading CRLFs skipped) to
  // the end of its body (trailing bytes beyond Content-Length left out).
  std::string_view raw() const { return raw_; }

 private:
  Message() = default;
  friend class Parser;

  std::string buffer_;
  std::string_view raw_;
  bool isRequest_ = false;
  Method method_ = Method::Unknown;
  std::string_view methodName_;
  Uri requestUri_;
  int status_ = 0;
  std::string_view reason_;
  std::string_view startLine_;
  std::vector<Header> headers_;
  std::vector<Via> vias_;
  NameAddr from_;
  NameAddr to_;
  std::string_view callId_;
  CSeq cseq_;
  std::optional<uint32_t> maxForwards_;
  std::optional<uint32_t> contentLength_;
  std::string_view body_;
};

// Parsers for header values, usable on any view (results point into it).
Result<Uri, ParseError> parseUri(std::string_view text);
Result<NameAddr, ParseError> parseNameAddr(std::string_view text);
// Comma-separated lists (Contact, Route, Record-Route). "*" is a Contact of
// its own and yields one NameAddr whose text is "*".
Result<std::vector<NameAddr>, ParseError> parseNameAddrList(std::string_view text);
Result<std::vector<Via>, ParseError> parseViaList(std::string_view text);
// Comma-separated tokens (Require, Supported, Allow, Proxy-Require), trimmed.
std::vector<std::string_view> splitTokens(std::string_view text);

// %-unescapes a URI user part ("%2B44" -> "+44"); invalid escapes are kept.
std::string unescape(std::string_view text);
// %-escapes text for the user part of a SIP URI (RFC 3261 §25.1: unreserved
// characters and the user-unreserved "& = + $ ," stay as they are; ';', '?'
// and '/', which RFC 3261 allows in a user part but many parsers take for
// the start of parameters, headers or a path, are escaped with '#', '%',
// '@', ':', controls and the rest).
std::string escapeUser(std::string_view text);

// Standard reason phrase for a status code ("Busy Here"); "" when unknown.
std::string_view reasonPhrase(int status);

}  // namespace tollgate::sip
