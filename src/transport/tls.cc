// OpenSSL contexts and non-blocking TLS steps. See tls.h.
#include "transport/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>

#include "common/ascii.h"

namespace tollgate::transport {

namespace {

// TLS 1.2 suites: ECDHE key exchange (forward secrecy) and AEAD ciphers only.
// TLS 1.3 suites are all of that kind already (OpenSSL's defaults).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string lastErrorText() {
  unsigned long e = ERR_get_error();
  std::string out;
  while (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
    e = ERR_get_error();
  }
  return out.empty() ? "unknown TLS error" : out;
}

bool configureCommon(SSL_CTX* ctx, const TlsSettings& s) {
  const int min = s.minVersion == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, min) != 1) return false;
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) return false;
  // Renegotiation only adds attack surface for SIP; compression invites CRIME.
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Non-blocking writes may be partial and retried from a moved buffer
  // (our output queue grows while a write is pending).
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  return true;
}

TlsIo classify(SSL* ssl, int rc) {
  switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
      return TlsIo::WantRead;
    case SSL_ERROR_WANT_WRITE:
      return TlsIo::WantWrite;
    case SSL_ERROR_ZERO_RETURN:
      return TlsIo::Closed;
    default:
      return TlsIo::Failed;
  }
}

}  // namespace

Result<std::unique_ptr<TlsContexts>, std::string> TlsContexts::create(const TlsSettings& s) {
  std::unique_ptr<TlsContexts> t(new TlsContexts());
  t->verifyCarriers_ = s.verifyCarriers;
  ERR_clear_error();
  if (!s.certificate.empty()) {
    t->server_ = SSL_CTX_new(TLS_server_method());
    if (!t->server_ || !configureCommon(t->server_, s)) {
      return Err("tls: server context: " + lastErrorText());
    }
    if (SSL_CTX_use_certificate_chain_file(t->server_, s.certificate.c_str()) != 1) {
      return Err("tls.certificate " + s.certificate + ": " + lastErrorText());
    }
    if (SSL_CTX_use_PrivateKey_file(t->server_, s.privateKey.c_str(), SSL_FILETYPE_PEM) != 1) {
      return Err("tls.private_key " + s.privateKey + ": " + lastErrorText());
    }
    if (SSL_CTX_check_private_key(t->server_) != 1) {
      return Err("tls.private_key " + s.privateKey +
                 " does not match tls.certificate: " + lastErrorText());
    }
    if (!s.clientCa.empty()) {
      if (SSL_CTX_load_verify_locations(t->server_, s.clientCa.c_str(), nullptr) != 1) {
        return Err("tls.client_ca " + s.clientCa + ": " + lastErrorText());
      }
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.clientCa.c_str());
      if (names) SSL_CTX_set_client_CA_list(t->server_, names);
      // Ask for a certificate; do not insist (no FAIL_IF_NO_PEER_CERT): a
      // certificate that is sent must verify, or the handshake fails.
      SSL_CTX_set_verify(t->server_, SSL_VERIFY_PEER, nullptr);
    } else {
      SSL_CTX_set_verify(t->server_, SSL_VERIFY_NONE, nullptr);
    }
    // No session cache across connections from strangers: each handshake
    // stands alone (and the cache would be keyed by attacker input).
    SSL_CTX_set_session_cache_mode(t->server_, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(t->server_, 0);
  }
  t->client_ = SSL_CTX_new(TLS_client_method());
  if (!t->client_ || !configureCommon(t->client_, s)) {
    return Err("tls: client context: " + lastErrorText());
  }
  if (s.verifyCarriers) {
    const bool loaded = s.carrierCa.empty() ? SSL_CTX_set_default_verify_paths(t->client_) == 1
                                            : SSL_CTX_load_verify_locations(
                                                  t->client_, s.carrierCa.c_str(), nullptr) == 1;
    if (!loaded) return Err("tls.carrier_ca " + s.carrierCa + ": " + lastErrorText());
    SSL_CTX_set_verify(t->client_, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(t->client_, SSL_VERIFY_NONE, nullptr);
  }
  // Our own certificate, if any, doubles as a client certificate (mutual
  // TLS towards carriers that ask for one).
  if (!s.certificate.empty()) {
    if (SSL_CTX_use_certificate_chain_file(t->client_, s.certificate.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(t->client_, s.privateKey.c_str(), SSL_FILETYPE_PEM) != 1) {
      return Err("tls.certificate " + s.certificate + ": " + lastErrorText());
    }
  }
  return t;
}

TlsContexts::~TlsContexts() {
  SSL_CTX_free(server_);
  SSL_CTX_free(client_);
}

SSL* TlsContexts::accept(int fd) const {
  if (!server_) return nullptr;
  SSL* ssl = SSL_new(server_);
  if (!ssl) return nullptr;
  SSL_set_fd(ssl, fd);
  SSL_set_accept_state(ssl);
  return ssl;
}

SSL* TlsContexts::connect(int fd, const net::SockAddr& remote) const {
  SSL* ssl = SSL_new(client_);
  if (!ssl) return nullptr;
  SSL_set_fd(ssl, fd);
  if (verifyCarriers_) {
    // Carriers are configured by IP: the certificate must name that IP
    // (RFC 5922 asks for the domain; we have none to ask for).
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set1_ip(param, remote.ip().bytes(), remote.ip().size());
  }
  SSL_set_connect_state(ssl);
  return ssl;
}

TlsIo tlsHandshake(SSL* ssl) {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl);
  return rc == 1 ? TlsIo::Done : classify(ssl, rc);
}

TlsIo tlsRead(SSL* ssl, char* buf, size_t n, size_t* got) {
  ERR_clear_error();
  size_t read = 0;
  int rc = SSL_read_ex(ssl, buf, n, &read);
  if (rc == 1) {
    *got = read;
    return TlsIo::Done;
  }
  return classify(ssl, rc);
}

TlsIo tlsWrite(SSL* ssl, const char* bytes, size_t n, size_t* put) {
  ERR_clear_error();
  size_t written = 0;
  int rc = SSL_write_ex(ssl, bytes, n, &written);
  if (rc == 1) {
    *put = written;
    return TlsIo::Done;
  }
  return classify(ssl, rc);
}

void tlsClose(SSL* ssl, bool notifyPeer) {
  if (!ssl) return;
  if (notifyPeer && SSL_is_init_finished(ssl)) {
    ERR_clear_error();
    (void)SSL_shutdown(ssl);  // non-blocking: sends close_notify if it can
  }
  ERR_clear_error();
  SSL_free(ssl);
}

std::vector<std::string> tlsVerifiedPeerNames(SSL* ssl) {
  std::vector<std::string> names;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return names;
  if (auto* sans = static_cast<GENERAL_NAMES*>(
          X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type != GEN_DNS) continue;
      const ASN1_IA5STRING* s = n->d.dNSName;
      names.push_back(
          ascii::lowered(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                          static_cast<size_t>(ASN1_STRING_length(s)))));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    // RFC 6125 §6.4.4: the CN only when there is no DNS subjectAltName.
    X509_NAME* subject = X509_get_subject_name(cert);
    int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (idx >= 0) {
      const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
      names.push_back(
          ascii::lowered(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                                          static_cast<size_t>(ASN1_STRING_length(cn)))));
    }
  }
  // A name with a NUL or control byte is not a DNS name: never match it.
  names.erase(std::remove_if(names.begin(), names.end(),
                             [](const std::string& n) {
                               return n.empty() || std::any_of(n.begin(), n.end(), [](char c) {
                                        return static_cast<unsigned char>(c) < 0x21;
                                      });
                             }),
              names.end());
  return names;
}

std::string tlsLastError() {
  return lastErrorText();
}

}  // namespace tollgate::transport
