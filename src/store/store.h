// The Store interface: what tollgate persists of its provisioning
// (mapping and routing gateways with their call policy, accounts, fraud
// rules) and its CDRs, whatever the backend (SQLite embedded; PostgreSQL for
// several nodes). Implementations say what they support through
// capabilities(). StoreError is the error value of every store interface.
//
// Threading: one Store object is one session with the backend (one
// connection): externally synchronized; open one per thread that needs it.
// AsyncCdrWriter (cdr_writer.h) is the thread-safe way for the data plane to
// hand CDRs to a store without waiting on disk.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "admission/provisioning.h"
#include "call/cdr.h"
#include "common/result.h"

namespace tollgate::store {

// Every store failure, as a value: the message names what failed and where
// ("insert cdr: database is locked (/var/lib/tollgate/tollgate.db)").
struct StoreError {
  std::string message;
};

struct Capabilities {
  bool provisioning = false;
  bool cdrs = false;
  bool sharedAcrossNodes = false;  // true for PostgreSQL
};

struct ImportSummary {
  size_t added = 0;
  size_t updated = 0;
  size_t unchanged = 0;
  size_t removed = 0;  // only with prune
};

// Upper bound on CdrQuery::limit (larger values are clamped): the management
// API passes the limit from a request, and one page must stay small in
// memory. Page with beforeId to read more.
inline constexpr size_t kMaxCdrListLimit = 10'000;

struct CdrQuery {
  size_t limit = 50;     // newest first; 0 returns nothing; clamped to kMaxCdrListLimit
  int64_t beforeId = 0;  // 0 = from the newest; else only ids < beforeId (paging)
  std::string reason;    // "" = any; else a reasonName() (an unknown name is an error)
  std::string mappingGateway;
  // Added for the management API (all optional, "" / 0 = no filter).
  int64_t startFromUs = 0;     // only start_us >= this
  int64_t startBeforeUs = 0;   // only start_us < this
  std::string routingGateway;  // the last carrier tried
  std::string gateway;         // either mapping_gateway or routing_gateway
  std::string number;          // caller or callee, exactly
  // Only ids > afterId (0 = no bound): a reader that polls for new rows
  // (the console's ACD sampler) reads only those, still newest first.
  int64_t afterId = 0;
};

// An edit of the whole provisioning set inside one write transaction (see
// Store::modifyProvisioning). It changes `p` in place and returns Ok, or an
// error that aborts the transaction with nothing written.
struct EditRefused {
  int status = 400;   // HTTP-like: 400 invalid, 404 missing, 409 conflict
  std::string field;  // the offending key ("addresses"), "" for the whole entry
  std::string message;
};
using ProvisioningEdit = std::function<Result<Ok, EditRefused>(admission::Provisioning& p)>;
struct EditOutcome {
  bool refused = false;
  EditRefused refusal;             // when refused
  uint64_t version = 0;            // provisioning version after the edit
  ImportSummary summary;           // what changed
  admission::Provisioning before;  // the set the edit started from
};

class Store {
 public:
  virtual ~Store() = default;
  virtual Capabilities capabilities() const = 0;

  // Upserts every gateway by name in one transaction (idempotent: importing
  // the same file twice changes nothing and does not bump the version). With
  // prune, gateways absent from `p` are deleted. Validation is the caller's
  // job (admission::validateProvisioning) but the store refuses duplicates.
  virtual Result<ImportSummary, StoreError> importProvisioning(const admission::Provisioning& p,
                                                               bool prune) = 0;
  virtual Result<admission::Provisioning, StoreError> loadProvisioning() = 0;
  // Changes whenever provisioning changes (any process). Cheap to poll.
  virtual Result<uint64_t, StoreError> provisioningVersion() = 0;
  // Read-modify-write of provisioning in one write transaction: loads the
  // stored set, runs `edit` on it (which validates the result), writes the
  // difference (as importProvisioning with prune) and bumps the version
  // when anything changed. Concurrent edits from several threads or
  // processes serialize on the write lock, so none is lost. A refused edit
  // writes nothing.
  virtual Result<EditOutcome, StoreError> modifyProvisioning(const ProvisioningEdit& edit) = 0;

  // Appends CDRs in one transaction; assigns ids. Durable against a process
  // crash (kill -9) once this returns.
  virtual Result<Ok, StoreError> writeCdrs(std::vector<call::Cdr>& cdrs) = 0;
  // The same for CDRs that carry an id unique across nodes (uids[i] is the
  // id of cdrs[i]): a CDR whose uid is stored already is skipped (its id
  // stays 0), so a batch written twice (a spool replayed after a crash
  // between the commit and the spool's bookkeeping) is stored once. A
  // backend without uids (SQLite, one node, no spool) writes them all.
  virtual Result<Ok, StoreError> writeCdrsOnce(std::vector<call::Cdr>& cdrs,
                                               const std::vector<std::string>& uids) = 0;
  // Deletes at most `batch` CDRs that started before `beforeUs`, oldest
  // first, in one short transaction; returns how many went (fewer than
  // `batch`: nothing older is left). Retention calls it in a loop with
  // pauses, so writers never wait long behind it.
  virtual Result<size_t, StoreError> purgeCdrs(int64_t beforeUs, size_t batch) = 0;
  virtual Result<std::vector<call::Cdr>, StoreError> listCdrs(const CdrQuery& q) = 0;
};

// The SQLite backend (sqlite_backend.h: one file shared by every process,
// owner-only modes): opens the store at `path`, creating the file and its
// directory when missing and bringing the schema up to date. ":memory:"
// opens a private database (tests only).
Result<std::unique_ptr<Store>, StoreError> openSqliteStore(const std::string& path);

}  // namespace tollgate::store
