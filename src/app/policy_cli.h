// The call policy commands of the command line:
//   tollgate list show|create|delete|add|remove|import|test ...   number lists
//   tollgate blacklist show|add|remove|clear ...                   dynamic blacklist
// The changing ones (list create|delete|add|remove|import, blacklist
// add|remove|clear) go through the running node's API (validated, audited,
// applied live) and write the store only when no node runs (cli_link.h);
// `list show|test` and `blacklist show` read the store. Same exit codes as
// cli.h. Not thread-safe: used once from runCli().
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "admission/provisioning.h"
#include "app/config.h"

namespace CLI {
class App;
}

namespace tollgate::app {

class PolicyCommands {
 public:
  // Adds the `list` and `blacklist` subcommands to app.
  explicit PolicyCommands(CLI::App& app);
  ~PolicyCommands();
  PolicyCommands(const PolicyCommands&) = delete;
  PolicyCommands& operator=(const PolicyCommands&) = delete;

  // After parsing: the exit code of the command that ran, or nullopt when
  // none of these was given.
  std::optional<int> run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The names a provisioning file being imported may refer to besides its
// own: the number lists in the store and (without prune) the stored
// accounts. nullopt (and a message on stderr) when the store cannot be read.
std::optional<admission::KnownNames> knownNamesForImport(const Config& config, bool prune);

}  // namespace tollgate::app
