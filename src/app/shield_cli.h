// The shield's commands: `tollgate ban add|del|list|why`, `tollgate firewall
// export --format nft|iptables|ip6tables` and `tollgate doctor`. `ban add`
// and `ban del` go through the running node's API, and write the store
// only when no node runs (cli_link.h); `ban list|why`, `firewall export`
// and `doctor` read the store and the settings. Exit codes as in cli.h (0
// ok, 1 runtime failure or "not banned", 2 bad usage or configuration,
// nothing changed). Not thread-safe: called once from main().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "admission/provisioning.h"
#include "common/net.h"
#include "store/pg_target.h"

namespace tollgate::app {

// durationSeconds 0 = permanent. note: free text kept as the ban's detail.
// token: --token ("" = $TOLLGATE_API_TOKEN or the node's token file).
int cmdBanAdd(const std::string& configPath, const std::string& token, const std::string& address,
              int64_t durationSeconds, const std::string& note);
int cmdBanDel(const std::string& configPath, const std::string& token, const std::string& address);
int cmdBanList(const std::string& configPath, bool json, bool all, size_t limit);
int cmdBanWhy(const std::string& configPath, const std::string& address, bool json);
int cmdFirewallExport(const std::string& configPath, const std::string& format);
int cmdDoctor(const std::string& configPath);

// Lifts the bans with reason "auth" (placed for digest retry-limit
// suspensions) of `source`, or all of them when source is null: clearing a
// suspension must also let the address past the shield. Returns how many
// were lifted; -1 after a store error (printed).
int64_t liftAuthBans(const store::StoreTarget& storeTarget,
                     const std::optional<net::IpAddress>& source);

// Longest note an operator may attach to a ban.
inline constexpr size_t kMaxBanNote = 200;

}  // namespace tollgate::app
