// SIP over TLS between two real Transports on loopback, with certificates
// made here by OpenSSL (a test CA, server and client certificates): the
// handshake, messages both ways on one connection, client-certificate names,
// refusal of an untrusted client certificate, server verification by IP,
// and peers that never finish the handshake (silent, or trickling it).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/log.h"
#include "transport/transport.h"

namespace tollgate::transport {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

const bool kQuietLogs = (log::setLevel(log::Level::Warn), true);

// A throwaway PKI in a temporary directory.
class Pki {
 public:
  Pki() {
    char tmpl[] = "/tmp/tollgate-tls-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    caKey_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    ca_ = make("Test CA", "", caKey_, nullptr, nullptr, true);
    writeCert(ca_, "ca.pem");
  }
  ~Pki() {
    X509_free(ca_);
    EVP_PKEY_free(caKey_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // A certificate signed by the CA (or self-signed when !byCa), its key
  // and chain in <name>.pem / <name>.key.
  void issue(const std::string& name, const std::string& cn, const std::string& san,
             bool byCa = true) {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    X509* cert =
        byCa ? make(cn, san, key, ca_, caKey_, false) : make(cn, san, key, nullptr, nullptr, false);
    writeCert(cert, name + ".pem");
    FILE* f = std::fopen(path(name + ".key").c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  std::string path(const std::string& file) const { return dir_ + "/" + file; }

 private:
  X509* make(const std::string& cn, const std::string& san, EVP_PKEY* key, X509* issuer,
             EVP_PKEY* issuerKey, bool ca) {
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial_);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
    auto add = [&](int nid, const std::string& value) {
      X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
      X509_add_ext(x, e, -1);
      X509_EXTENSION_free(e);
    };
    add(NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (ca) add(NID_key_usage, "critical,keyCertSign,cRLSign");
    if (!san.empty()) add(NID_subject_alt_name, san);
    X509_sign(x, issuerKey ? issuerKey : key, EVP_sha256());
    return x;
  }
  void writeCert(X509* x, const std::string& file) {
    FILE* f = std::fopen(path(file).c_str(), "w");
    PEM_write_X509(f, x);
    std::fclose(f);
  }

  std::string dir_;
  EVP_PKEY* caKey_;
  X509* ca_;
  long serial_ = 0;
};

struct Received {
  Flow flow;
  std::string bytes;
};

class RecordingSink : public MessageSink {
 public:
  void onMessage(const Flow& from, std::string&& bytes) override {
    messages.push_back({from, std::move(bytes)});
  }
  void onConnectionClosed(ConnectionId id) override { closed.push_back(id); }
  std::vector<Received> messages;
  std::vector<ConnectionId> closed;
};

bool runUntil(EventLoop& loop, const std::function<bool()>& pred,
              milliseconds limit = milliseconds(2000)) {
  auto end = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() >= end) return false;
    loop.runOnce(milliseconds(5));
  }
  return true;
}

std::string sipMessage(std::string_view tag) {
  std::string body(tag);
  return "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1;branch=z9hG4bK1\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A blocking TCP connect to `to` (no TLS: the tests play broken peers).
int connectRaw(const net::SockAddr& to) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_storage ss;
  socklen_t len = to.toSockaddr(&ss);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&ss), len), 0);
  return fd;
}

class TlsTest : public ::testing::Test {
 protected:
  TlsTest() {
    pki.issue("server", "sbc.example", "DNS:sbc.example,IP:127.0.0.1");
    pki.issue("client", "ignored-cn", "DNS:gw1.customer.example,DNS:GW2.Customer.Example");
    pki.issue("rogue", "rogue", "DNS:gw1.customer.example", /*byCa=*/false);
    pki.issue("cnonly", "pbx.customer.example", "");
  }
  TlsSettings server() const {
    TlsSettings s;
    s.certificate = pki.path("server.pem");
    s.privateKey = pki.path("server.key");
    s.clientCa = pki.path("ca.pem");
    return s;
  }
  TlsSettings client(const std::string& cert) const {
    TlsSettings s;
    if (!cert.empty()) {
      s.certificate = pki.path(cert + ".pem");
      s.privateKey = pki.path(cert + ".key");
    }
    s.carrierCa = pki.path("ca.pem");
    return s;
  }

  SystemClock clock;
  EventLoop loop{clock};
  Pki pki;
};

TEST_F(TlsTest, RoundTripWithClientCertificateNames) {
  RecordingSink sinkA, sinkB;
  Transport a(loop, sinkA), b(loop, sinkB);
  ASSERT_TRUE(a.configureTls(server()));
  ASSERT_TRUE(b.configureTls(client("client")));
  auto l = a.listen(*parseListenSpec("tls:127.0.0.1:0"));
  ASSERT_TRUE(l) << l.error();
  const net::SockAddr addrA = a.listeners()[0].address;

  ASSERT_TRUE(b.send(Flow{Protocol::Tls, addrA}, sipMessage("hello")));
  ASSERT_TRUE(runUntil(loop, [&] { return sinkA.messages.size() == 1; }));
  const Flow in = sinkA.messages[0].flow;
  EXPECT_EQ(in.protocol, Protocol::Tls);
  EXPECT_EQ(sinkA.messages[0].bytes, sipMessage("hello"));
  const auto* names = a.peerCertificateNames(in.connection);
  ASSERT_NE(names, nullptr);
  EXPECT_EQ(*names, (std::vector<std::string>{"gw1.customer.example", "gw2.customer.example"}))
      << "subjectAltName DNS entries, lowercased; the CN is ignored when SANs exist";

  // The answer goes back on the same connection.
  ASSERT_TRUE(a.send(in, sipMessage("answer")));
  ASSERT_TRUE(runUntil(loop, [&] { return sinkB.messages.size() == 1; }));
  EXPECT_EQ(sinkB.messages[0].bytes, sipMessage("answer"));
  EXPECT_EQ(sinkB.messages[0].flow.protocol, Protocol::Tls);
  EXPECT_EQ(a.stats().tlsHandshakes, 1u);
  EXPECT_EQ(b.stats().tlsHandshakes, 1u);
  EXPECT_EQ(b.stats().tcpOpen, 1u);

  // A large message crosses several TLS records.
  std::string big(60000, 'x');
  ASSERT_TRUE(b.send(Flow{Protocol::Tls, addrA}, sipMessage(big)));
  ASSERT_TRUE(runUntil(loop, [&] { return sinkA.messages.size() == 2; }));
  EXPECT_EQ(sinkA.messages[1].bytes, sipMessage(big));
}

TEST_F(TlsTest, NoClientCertificateIsAcceptedWithoutNames) {
  RecordingSink sinkA, sinkB;
  Transport a(loop, sinkA), b(loop, sinkB);
  ASSERT_TRUE(a.configureTls(server()));
  ASSERT_TRUE(b.configureTls(client("")));
  ASSERT_TRUE(a.listen(*parseListenSpec("tls:127.0.0.1:0")));
  ASSERT_TRUE(b.send(Flow{Protocol::Tls, a.listeners()[0].address}, sipMessage("anon")));
  ASSERT_TRUE(runUntil(loop, [&] { return sinkA.messages.size() == 1; }));
  EXPECT_EQ(a.peerCertificateNames(sinkA.messages[0].flow.connection), nullptr);
}

TEST_F(TlsTest, CommonNameWhenThereIsNoSubjectAltName) {
  RecordingSink sinkA, sinkB;
  Transport a(loop, sinkA), b(loop, sinkB);
  ASSERT_TRUE(a.configureTls(server()));
  ASSERT_TRUE(b.configureTls(client("cnonly")));
  ASSERT_TRUE(a.listen(*parseListenSpec("tls:127.0.0.1:0")));
  ASSERT_TRUE(b.send(Flow{Protocol::Tls, a.listeners()[0].address}, sipMessage("cn")));
  ASSERT_TRUE(runUntil(loop, [&] { return sinkA.messages.size() == 1; }));
  const auto* names = a.peerCertificateNames(sinkA.messages[0].flow.connection);
  ASSERT_NE(names, nullptr);
  EXPECT_EQ(*names, std::vector<std::string>{"pbx.customer.example"});
}

TEST_F(TlsTest, UntrustedClientCertificateIsRefused) {
  RecordingSink sinkA, sinkB;
  Transport a(loop, sinkA), b(loop, sinkB);
  ASSERT_TRUE(a.configureTls(server()));
  ASSERT_TRUE(b.configureTls(client("rogue")));
  ASSERT_TRUE(a.listen(*parseListenSpec("tls:127.0.0.1:0")));
  ASSERT_TRUE(b.send(Flow{Protocol::Tls, a.listeners()[0].address}, sipMessage("x")));
  ASSERT_TRUE(runUntil(loop, [&] { return a.stats().tlsHandshakeFailed == 1; }));
  loop.runOnce(milliseconds(20));
  EXPECT_TRUE(sinkA.messages.empty());
  EXPECT_EQ(a.stats().tcpOpen, 0u);
}

TEST_F(TlsTest, ServerMustNameTheCarrierIp) {
  // b connects to a by 127.0.0.1; a's certificate names only a DNS name.
  pki.issue("dnsonly", "sbc.example", "DNS:sbc.example");
  RecordingSink sinkA, sinkB;
  Transport a(loop, sinkA), b(loop, sinkB);
  TlsSettings s = server();
  s.certificate = pki.path("dnsonly.pem");
  s.privateKey = pki.path("dnsonly.key");
  ASSERT_TRUE(a.configureTls(s));
  ASSERT_TRUE(b.configureTls(client("")));
  ASSERT_TRUE(a.listen(*parseListenSpec("tls:127.0.0.1:0")));
  (void)b.send(Flow{Protocol::Tls, a.listeners()[0].address}, sipMessage("x"));
  ASSERT_TRUE(runUntil(loop, [&] { return b.stats().tlsHandshakeFailed == 1; }));
  EXPECT_TRUE(sinkA.messages.empty());

  // With verify_carriers = false it connects (testing only).
  RecordingSink sinkC;
  Transport c(loop, sinkC);
  TlsSettings lax = client("");
  lax.verifyCarriers = false;
  ASSERT_TRUE(c.configureTls(lax));
  ASSERT_TRUE(c.send(Flow{Protocol::Tls, a.listeners()[0].address}, sipMessage("y")));
  ASSERT_TRUE(runUntil(loop, [&] { return sinkA.messages.size() == 1; }));
}

TEST_F(TlsTest, PlainTcpOnATlsPortIsDropped) {
  RecordingSink sinkA;
  Transport a(loop, sinkA);
  ASSERT_TRUE(a.configureTls(server()));
  ASSERT_TRUE(a.listen(*parseListenSpec("tls:127.0.0.1:0")));
  int fd = connectRaw(a.listeners()[0].address);
  std::string m = sipMessage("plain");
  ASSERT_EQ(::send(fd, m.data(), m.size(), 0), static_cast<ssize_t>(m.size()));
  ASSERT_TRUE(runUntil(loop, [&] { return a.stats().tlsHandshakeFailed == 1; }));
  EXPECT_TRUE(sinkA.messages.empty());
  ::close(fd);
}

TEST_F(TlsTest, SilentPeerTimesOutInTheHandshake) {
  RecordingSink sinkA;
  TransportLimits limits;
  limits.tlsHandshakeTimeout = milliseconds(200);
  Transport a(loop, sinkA, limits);
  ASSERT_TRUE(a.configureTls(server()));
  ASSERT_TRUE(a.listen(*parseListenSpec("tls:127.0.0.1:0")));
  int fd = connectRaw(a.listeners()[0].address);
  ASSERT_TRUE(runUntil(loop, [&] { return a.stats().tcpAccepted == 1; }));
  ASSERT_TRUE(runUntil(
      loop, [&] { return a.stats().tcpOpen == 0; }, milliseconds(1000)));
  EXPECT_EQ(a.stats().tlsHandshakeTimeouts, 1u);
  EXPECT_EQ(a.stats().tlsHandshakeFailed, 0u);
  ::close(fd);
}

TEST_F(TlsTest, TrickledHandshakeIsResetAtTheDeadline) {
  // A ClientHello record a byte at a time: OpenSSL keeps waiting for the
  // rest of the record, so only the deadline ends it.
  RecordingSink sinkA;
  TransportLimits limits;
  limits.tlsHandshakeTimeout = milliseconds(300);
  limits.tcpCloseReset = true;
  Transport a(loop, sinkA, limits);
  ASSERT_TRUE(a.configureTls(server()));
  ASSERT_TRUE(a.listen(*parseListenSpec("tls:127.0.0.1:0")));
  int fd = connectRaw(a.listeners()[0].address);
  std::string hello("\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03", 11);
  hello += std::string(189, '\x01');
  const auto begin = Clock::now();
  std::string kind;
  for (char b : hello) {
    if (::send(fd, &b, 1, MSG_NOSIGNAL) != 1) break;
    runUntil(
        loop, [] { return false; }, milliseconds(25));
    char buf[16];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
      kind = n == 0 ? "fin" : "reset";
      break;
    }
  }
  const auto spent = Clock::now() - begin;
  EXPECT_EQ(kind, "reset");
  EXPECT_GE(spent, milliseconds(280));
  EXPECT_LT(spent, milliseconds(1500));
  EXPECT_EQ(a.stats().tlsHandshakeTimeouts, 1u);
  EXPECT_EQ(a.stats().tcpClosedDeadlineReset, 1u);
  EXPECT_TRUE(sinkA.messages.empty());
  ::close(fd);
}

TEST_F(TlsTest, UntrustedHandshakesInProgressShareTheBufferBudget) {
  // Each untrusted handshake in progress is charged 48 KiB: a budget of
  // 150 KiB holds three, the fourth stranger is closed at accept; a
  // finished handshake gives its charge back.
  RecordingSink sinkA;
  TransportLimits limits;
  limits.tcpUntrustedBufferBudget = 150 * 1024;
  Transport a(loop, sinkA, limits);
  ASSERT_TRUE(a.configureTls(server()));
  ASSERT_TRUE(a.listen(*parseListenSpec("tls:127.0.0.1:0")));
  std::vector<int> fds;
  for (int i = 0; i < 4; ++i) fds.push_back(connectRaw(a.listeners()[0].address));
  ASSERT_TRUE(runUntil(loop, [&] { return a.stats().tcpAccepted == 4; }));
  EXPECT_EQ(a.stats().tcpClosedBufferBudget, 1u);
  EXPECT_EQ(a.stats().tcpOpen, 3u);
  // A client that completes its handshake frees room for another stranger.
  RecordingSink sinkB;
  Transport b(loop, sinkB);
  ASSERT_TRUE(b.configureTls(client("")));
  ::close(fds[0]);
  ASSERT_TRUE(runUntil(loop, [&] { return a.stats().tcpOpen == 2; }));
  ASSERT_TRUE(b.send(Flow{Protocol::Tls, a.listeners()[0].address}, sipMessage("hi")));
  ASSERT_TRUE(runUntil(loop, [&] { return sinkA.messages.size() == 1; }));
  fds[0] = connectRaw(a.listeners()[0].address);
  ASSERT_TRUE(runUntil(loop, [&] { return a.stats().tcpAccepted == 6; }));
  EXPECT_EQ(a.stats().tcpClosedBufferBudget, 1u);
  EXPECT_EQ(a.stats().tcpOpen, 4u);
  for (int fd : fds) ::close(fd);
}

TEST_F(TlsTest, BadFilesAreNamedInTheError) {
  RecordingSink sinkA;
  Transport a(loop, sinkA);
  TlsSettings s = server();
  s.privateKey = pki.path("client.key");  // not the certificate's key
  auto r = a.configureTls(s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("tls.private_key " + pki.path("client.key")), std::string::npos)
      << r.error();
  EXPECT_NE(r.error().find("mismatch"), std::string::npos) << r.error();
  s = server();
  s.certificate = pki.path("nope.pem");
  r = a.configureTls(s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("nope.pem"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace tollgate::transport
