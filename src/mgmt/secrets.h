// Secrets of the management plane: bearer tokens (sessions, API tokens, the
// local CLI token), their SHA-256 digests as stored, constant-time
// comparison, and argon2id password hashes (libsodium). Thread-safe
// (libsodium is initialised once; hashing is reentrant).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tollgate::mgmt {

// Token kinds by prefix, so a leaked token in a log says what it is.
inline constexpr std::string_view kSessionPrefix = "tgs_";
inline constexpr std::string_view kApiTokenPrefix = "tgt_";
inline constexpr std::string_view kLocalTokenPrefix = "tgl_";
// 32 random bytes (256 bits) per token, base64url without padding.
inline constexpr size_t kTokenRandomBytes = 32;
// Longest bearer token we look at; longer ones are refused unread.
inline constexpr size_t kMaxTokenLength = 128;

// prefix + base64url(32 random bytes from libsodium's CSPRNG).
std::string newToken(std::string_view prefix);
// Lower-case hex SHA-256: what the store keeps instead of a token.
std::string sha256Hex(std::string_view data);
bool constantTimeEquals(std::string_view a, std::string_view b);

// argon2id via crypto_pwhash_str with libsodium's INTERACTIVE limits
// (t=2, m=64 MiB; about 60 ms here), above OWASP's minimum for argon2id.
// Returns nullopt only when memory cannot be had.
std::optional<std::string> hashPassword(std::string_view password);
bool verifyPassword(const std::string& hash, std::string_view password);
// True when `hash` was made with other limits than hashPassword uses now
// (rehash on the next successful login).
bool passwordNeedsRehash(const std::string& hash);
// Longest password accepted anywhere (policy, login): NIST SP 800-63B asks
// for at least 64; argon2 does not care, the bound only keeps requests small.
inline constexpr size_t kMaxPasswordBytes = 256;

}  // namespace tollgate::mgmt
