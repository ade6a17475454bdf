// Persistence of the registrar's bindings: the running node writes each
// change (through a background writer, never on the packet path) and reads
// them back at start-up; `tollgate registration list` reads them.
//
// Threading: one object is one session with the backend: externally
// synchronized.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "registrar/binding.h"
#include "store/store.h"

namespace tollgate::store {

class RegistrationStore {
 public:
  virtual ~RegistrationStore() = default;
  // Inserts or replaces the binding (username, contact).
  virtual Result<Ok, StoreError> saveBinding(const registrar::Binding& b) = 0;
  virtual Result<Ok, StoreError> removeBinding(const std::string& username,
                                               const std::string& contact) = 0;
  // Every stored binding, by username then contact (expired ones included:
  // the reader decides; the node drops them at start-up).
  virtual Result<std::vector<registrar::Binding>, StoreError> listBindings() = 0;
  // Removes bindings that expired before `nowUs`; returns how many.
  virtual Result<size_t, StoreError> purgeExpiredBindings(int64_t nowUs) = 0;
};

// The SQLite backend (sqlite_backend.h): the bindings in the store file at
// `path` (created and migrated as by openSqliteStore). A file path:
// ":memory:" is refused (each connection would see its own empty database).
Result<std::unique_ptr<RegistrationStore>, StoreError> openSqliteRegistrationStore(
    const std::string& path);

}  // namespace tollgate::store
