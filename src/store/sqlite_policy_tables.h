// Internal to src/store: the call policy part of provisioning in SQLite:
// gateway policy rows, accounts and fraud rules; and the steps every named
// provisioning item goes through on import (gateways, accounts, rules).
// Called by the SQLite Store's import and load, inside their transaction, on
// their connection. Externally synchronized (the caller's connection).
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "admission/provisioning.h"
#include "common/result.h"
#include "store/sqlite_connection.h"
#include "store/store.h"

namespace tollgate::store {

// Refuses what the schema cannot hold unambiguously: two items with one name
// (which one wins would depend on list order) and empty names. `what` names
// the kind ("mapping gateway").
template <typename T>
Result<Ok, StoreError> checkImportNames(const std::vector<T>& v, const char* what) {
  std::set<std::string_view> seen;
  for (const T& x : v) {
    if (x.name.empty()) return Err{StoreError{std::string(what) + " with an empty name"}};
    if (!seen.insert(x.name).second) {
      return Err{StoreError{std::string("duplicate ") + what + " name '" + x.name + "'"}};
    }
  }
  return Ok{};
}

// The stored items of one kind by name; import takes out each name the new
// set has, so what is left at the end is absent from it (pruned).
template <typename T>
using StoredByName = std::map<std::string_view, const T*>;

template <typename T>
StoredByName<T> storedByName(const std::vector<T>& stored) {
  StoredByName<T> out;
  for (const T& x : stored) out.emplace(x.name, &x);
  return out;
}

enum class ImportStep { Unchanged, Added, Updated };

// What import does with `item`, counted in *sum; its name leaves `stored`.
template <typename T, typename Same>
ImportStep importStep(StoredByName<T>& stored, const T& item, Same same, ImportSummary* sum) {
  auto it = stored.find(item.name);
  if (it == stored.end()) {
    ++sum->added;
    return ImportStep::Added;
  }
  const bool unchanged = same(*it->second, item);
  stored.erase(it);
  ++(unchanged ? sum->unchanged : sum->updated);
  return unchanged ? ImportStep::Unchanged : ImportStep::Updated;
}

// Deletes each item left in `left` with `sql` (its name bound to ?1),
// counting them in sum->removed.
template <typename T, typename Db>
Result<Ok, StoreError> deleteLeft(Db& c, std::string_view sql, std::string_view what,
                                  const StoredByName<T>& left, ImportSummary* sum) {
  for (const auto& [name, item] : left) {
    auto st = c.prepare(sql);
    if (!st) return Err{st.error()};
    st->bind(1, name);
    if (auto r = st->run(what); !r) return r;
    ++sum->removed;
  }
  return Ok{};
}

// Writes the policy of every gateway of `p` whose policy differs from
// `stored` (or that is new), upserts accounts and fraud rules by name
// (counting them in *sum) and, with prune, deletes those `p` does not name.
// Refuses duplicate or empty account / rule names before writing.
template <class Db>
Result<Ok, StoreError> importPolicyTables(Db& c, const admission::Provisioning& p,
                                          const admission::Provisioning& stored, bool prune,
                                          ImportSummary* sum);

// Fills the gateways' policy, the accounts and the fraud rules of *p
// (gateways must already be loaded). Accounts and rules sorted by name.
template <class Db>
Result<Ok, StoreError> loadPolicyTables(Db& c, admission::Provisioning* p);

}  // namespace tollgate::store
