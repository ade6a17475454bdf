// SIP over TLS (RFC 3261 §26.2, RFC 5630): the OpenSSL contexts of one
// transport and the per-connection steps the stream code calls (handshake,
// read, write, close) on non-blocking sockets. Only TLS 1.2 and 1.3, with
// forward-secret AEAD suites on 1.2 and no renegotiation. Client
// certificates are asked for only when a client CA is configured, and
// optional: a connection without one is accepted (password and IP gateways
// may use TLS too), one with a certificate that does not verify is refused.
// Confined to its worker, like the transport.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/net.h"
#include "common/result.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace tollgate::transport {

struct TlsSettings {
  std::string certificate;  // PEM chain; needed to listen
  std::string privateKey;
  std::string clientCa;  // PEM CAs for client certificates; "" = none asked for
  std::string minVersion = "1.2";
  std::string carrierCa;  // PEM CAs for servers we connect to; "" = system store
  bool verifyCarriers = true;
};

class TlsContexts {
 public:
  // Errors name the file and OpenSSL's reason, for the start-up log.
  static Result<std::unique_ptr<TlsContexts>, std::string> create(const TlsSettings& s);
  ~TlsContexts();
  TlsContexts(const TlsContexts&) = delete;
  TlsContexts& operator=(const TlsContexts&) = delete;

  bool canServe() const { return server_ != nullptr; }
  // A new server-side SSL on fd, or null (out of memory / no certificate).
  SSL* accept(int fd) const;
  // A new client-side SSL on fd towards `remote` (its IP is checked against
  // the certificate when verifying carriers).
  SSL* connect(int fd, const net::SockAddr& remote) const;

 private:
  TlsContexts() = default;
  SSL_CTX* server_ = nullptr;
  SSL_CTX* client_ = nullptr;
  bool verifyCarriers_ = true;
};

// One step of a non-blocking TLS operation.
enum class TlsIo : uint8_t { Done, WantRead, WantWrite, Closed, Failed };

TlsIo tlsHandshake(SSL* ssl);
// Reads up to n bytes into buf (*got set on Done).
TlsIo tlsRead(SSL* ssl, char* buf, size_t n, size_t* got);
// Writes what it can of bytes (*put set on Done; may be less than n).
TlsIo tlsWrite(SSL* ssl, const char* bytes, size_t n, size_t* put);
// Sends close_notify (best effort, never blocks) and frees the SSL.
void tlsClose(SSL* ssl, bool notifyPeer);
// The names of the peer's certificate (subjectAltName DNS, else the
// subject CN), lowercased, when it presented one and it verified.
std::vector<std::string> tlsVerifiedPeerNames(SSL* ssl);
// Why the last failure happened, for logs (drains OpenSSL's error queue).
std::string tlsLastError();

}  // namespace tollgate::transport
