// The `tollgate` commands that speak the management API of a running node
// (docs/api.md): gateway add/update/remove, call list/end, stats, trace,
// user/token/lockout/audit, cdr export, and `api openapi`. They find the
// API from the node settings (api.listen, api.certificate) and
// authenticate with --token, $TOLLGATE_API_TOKEN, or the node's local token
// file "<store.path>.api-token" (mode 0600, written at each start). Not
// thread-safe: used once from runCli().
#pragma once

#include <memory>

namespace CLI {
class App;
}

namespace tollgate::app {

struct ApiCommands;
void destroyApiCommands(ApiCommands* cmds);
struct ApiCommandsDeleter {
  void operator()(ApiCommands* c) const { destroyApiCommands(c); }
};
using ApiCommandsPtr = std::unique_ptr<ApiCommands, ApiCommandsDeleter>;

// Adds the commands; `gateway` and `cdr` are the existing command groups
// the new subcommands join.
ApiCommandsPtr addApiCommands(CLI::App& app, CLI::App* gateway, CLI::App* cdr);
// The exit code of the API command that was parsed, or -1 when none was.
int runApiCommands(ApiCommands& cmds);

}  // namespace tollgate::app
