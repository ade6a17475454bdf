// CdrSpool: the local, append-only file where CDRs wait while the shared
// database (PostgreSQL) is unreachable or too slow, so that no finished
// call's CDR is lost to a database outage (docs/store.md, "Outage").
//
// Records are appended in batches, each batch fsync'd before append()
// returns; they are read back in the order written (peek) and dropped from
// the head once the database committed them (consume). The head position
// lives in a small file beside the spool, fsync'd on every move; a crash
// between the database's commit and that write replays a few records again,
// which the database skips by their uid (Store::writeCdrsOnce). When the
// head reaches the end, both files are truncated. A torn last line (a crash
// in the middle of an append, before its fsync returned) is cut off on open.
//
// Files (directory created 0700, files 0600): <dir>/cdr.spool (one line per
// CDR: the time it was spooled, its uid and the cdr columns of
// cdr_columns.h, tab-separated, escaped), <dir>/cdr.spool.head.
//
// Threading: externally synchronized (the CDR writer's thread owns it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "call/cdr.h"
#include "common/result.h"
#include "store/store.h"

namespace tollgate::store {

// The spool refuses appends past this size (the writer counts those CDRs as
// lost): a database gone for days must not fill the disk the node logs to.
inline constexpr uint64_t kDefaultSpoolMaxBytes = 1ull << 30;  // ~3 M CDRs

struct SpooledCdr {
  std::string uid;
  int64_t spooledUs = 0;  // wall clock, µs
  call::Cdr cdr;
};

class CdrSpool {
 public:
  // Opens (creating) the spool in `dir`; reads the head and cuts a torn
  // tail.
  static Result<std::unique_ptr<CdrSpool>, StoreError> open(
      const std::string& dir, uint64_t maxBytes = kDefaultSpoolMaxBytes);
  ~CdrSpool();
  CdrSpool(const CdrSpool&) = delete;
  CdrSpool& operator=(const CdrSpool&) = delete;

  // Appends the batch and fsyncs it. An error (disk full, spool full)
  // appends nothing.
  Result<Ok, StoreError> append(const std::vector<SpooledCdr>& batch);
  // Up to `max` records from the head, oldest first (not consumed).
  Result<std::vector<SpooledCdr>, StoreError> peek(size_t max);
  // Drops the first `count` records (those peek returned last), fsync'd.
  Result<Ok, StoreError> consume(size_t count);

  uint64_t pendingRecords() const { return pending_; }
  uint64_t pendingBytes() const { return size_ - head_; }
  // When the oldest pending record was spooled (wall µs); 0 when empty.
  int64_t oldestSpooledUs() const { return pending_ == 0 ? 0 : oldestUs_; }
  const std::string& directory() const { return dir_; }

 private:
  CdrSpool(std::string dir, int fd, int headFd, uint64_t maxBytes)
      : dir_(std::move(dir)), fd_(fd), headFd_(headFd), maxBytes_(maxBytes) {}
  Result<Ok, StoreError> writeHead();
  Result<Ok, StoreError> scan();  // counts records from head_, cuts a torn tail
  StoreError error(const std::string& what) const;

  std::string dir_;
  int fd_;
  int headFd_;
  uint64_t maxBytes_;
  uint64_t head_ = 0;  // byte offset of the first pending record
  uint64_t size_ = 0;  // bytes in the file (all complete lines)
  uint64_t pending_ = 0;
  int64_t oldestUs_ = 0;
  std::vector<uint64_t> peekedEnds_;  // end offset of each record peek returned
};

// One CDR as a spool line (without the newline) and back; exposed for tests.
std::string encodeSpooledCdr(const SpooledCdr& r);
bool decodeSpooledCdr(std::string_view line, SpooledCdr* out);

}  // namespace tollgate::store
