// How a command of the command line reaches the node its settings file
// describes (docs/api.md, "The command line: which path").
//
// A command that changes something (import, ban add|del, list
// create|delete|add|remove|import, blacklist add|remove|clear, auth
// suspensions clear) goes through the node's management API when the node
// runs: the API's validation, the audit log, applied live. Only when no node
// runs does it write the store itself. "The node runs" means something
// accepts a TCP connection on the first api.listen address (a wildcard
// address is reached on loopback); a refused connection (nothing listens)
// means it does not. Nothing else is a reason to write the store behind a
// running node's back: an unreachable address or a timeout, a token that
// cannot be read, and every error answer (401, 403, any 4xx or 5xx) end the
// command with an error, nothing changed. With api.listen = [] there is no
// API to ask: the store, as the node polls it. The command says which way it
// went in one line on stderr; stdout (and --json) stays the command's own.
//
// Commands that only read (gateway list, cdr list, ban list|why, list
// show|test, blacklist show, auth suspensions list, registration list,
// firewall export, doctor) read the store directly whether the node runs or
// not: cheaper, and the same answer. The API-only commands (gateway
// add|update|remove, calls, stats, trace, user, token, lockout, audit, cdr
// export) need the node (cli_api.h).
//
// Confined to its worker: the command line's one thread (runCli()).
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "app/config.h"
#include "mgmt/api_client.h"

namespace CLI {
class App;
}

namespace tollgate::app {

// The settings file of the node a command speaks to when --config is not
// given: $TOLLGATE_CONFIG when set and not empty, else this path (where the
// Debian package installs it). The store, and with it the local API token
// file "<store.path>.api-token", follow from the file's [store] path.
inline constexpr const char* kDefaultConfigPath = "/etc/tollgate/tollgate.toml";
inline constexpr const char* kConfigEnvironment = "TOLLGATE_CONFIG";
// Adds --config,-c to a command: the path lands in `path`, defaulting as
// above.
void addConfigOption(CLI::App* command, std::string& path);

// Loads the node settings or prints the error (file:line: key: message;
// for a missing file, how to name another); nullopt means "exit 2". Every
// command starts with it.
std::optional<Config> configOrExit(const std::string& path);

// The node's API address from its settings (the first api.listen, a
// wildcard reached on loopback; HTTPS trusting api.certificate when set).
// The token is left empty.
mgmt::ApiEndpoint apiAddress(const Config& config);
// The token a command authenticates with: `given` (--token), else
// $TOLLGATE_API_TOKEN, else the node's local token file. nullopt (and a
// message) when none can be read.
std::optional<std::string> apiToken(const Config& config, const std::string& given);

// How long the CLI waits for the node's API port to accept a connection
// before it gives up telling whether the node runs (loopback answers at
// once; a remote api.listen over a slow link within this).
inline constexpr std::chrono::milliseconds kNodeProbeTimeout{2000};

// The path of one changing command: the node's API, or the store.
class NodeLink {
 public:
  // Decides the path and prints it on stderr. nullopt when the command must
  // stop (the reason printed): *rc is then its exit code.
  static std::optional<NodeLink> forChange(const Config& config, const std::string& token, int* rc);

  bool viaApi() const { return client_.has_value(); }
  // One request of the API path (viaApi() only).
  mgmt::ApiReply request(const std::string& method, const std::string& path,
                         const std::string& jsonBody = "");

 private:
  std::optional<mgmt::ApiClient> client_;
};

// Prints an answer that is not a success, or a failed exchange, on stderr:
//   error 409 (conflict) field name: number list "premium" exists
void printApiError(const mgmt::ApiReply& r);
// true for a 2xx answer. Otherwise prints it and sets *rc to the exit code
// a changing command gives whichever path it takes: 2 for a refusal of the
// input (400, 413: nothing changed), 1 for everything else (not found, in
// use, not allowed, the node or the store failing).
bool answered(const mgmt::ApiReply& r, int* rc);

// false (and a message) when `body` is larger than the API takes in one
// request (mgmt::kApiMaxBodyBytes): the node would answer 413 before
// reading it, so the CLI says what to do instead and sends nothing.
bool fitsOneRequest(const std::string& body);

// Percent-encoding of a path segment or query value (RFC 3986 §2.1:
// everything but the unreserved characters).
std::string urlEncode(std::string_view s);
// "?a=1&b=x%20y" from (name, value) pairs; empty values are left out.
std::string query(std::initializer_list<std::pair<const char*, std::string>> params);

}  // namespace tollgate::app
