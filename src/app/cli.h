// The tollgate command line: `run`, `import`, `gateway list`, `cdr list`,
// `auth suspensions list|clear`, `registration list`, `lint`, `config
// check`, `list ...`, `blacklist ...` (policy_cli.h), `ban add|del|list|why`,
// `firewall export`, `doctor` (shield_cli.h), `version`. The commands that
// change something (import, ban add|del, list and blacklist changes, auth
// suspensions clear) go through the running node's API and write the store
// only when no node runs (cli_link.h). Exit codes: 0 success, 1 runtime
// failure (store, ports, lint findings, a refused change), 2 bad usage or
// bad configuration (nothing was changed). Not thread-safe: called once
// from main().
#pragma once

namespace tollgate::app {

int runCli(int argc, char** argv);

}  // namespace tollgate::app
