// The tollgate command line: `run`, `import`, `gateway list`, `cdr list`,
// `lint`, `config check`, `ban add|del|list|why`, `firewall export`,
// `doctor`, `version`. Exit codes: 0 success, 1 runtime
// failure (store, ports, lint findings), 2 bad usage or bad configuration
// (nothing was changed). Not thread-safe: called once from main().
#pragma once

namespace tollgate::app {

int runCli(int argc, char** argv);

}  // namespace tollgate::app
