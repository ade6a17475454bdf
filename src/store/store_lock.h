// The claim one process holds on a store while it may not change behind its
// back: the running node holds it for its whole life, `tollgate restore`
// while it replaces the files. It is an flock(2) on "<store.path>.lock"
// (0600, beside the database; never deleted, so there is no window where
// two processes lock two different files), released by the kernel when the
// holder exits, kill -9 included. The file holds the holder's PID, for the
// message of the one refused. Commands that only read or write through
// SQLite (cdr list, import, backup) do not take it: SQLite's own locks
// serialize them with the node. Externally synchronized.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "common/result.h"
#include "store/store.h"

namespace tollgate::store {

class StoreLock {
 public:
  // Takes the claim on the store at `storePath` without waiting. An error
  // names the holder when another process has it ("... held by pid 4242").
  static Result<StoreLock, StoreError> acquire(const std::string& storePath);

  StoreLock(StoreLock&& o) noexcept;
  StoreLock& operator=(StoreLock&&) = delete;
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;
  ~StoreLock();

  const std::string& path() const { return path_; }

 private:
  StoreLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

// "<store.path>.lock".
std::string storeLockPath(const std::string& storePath);

}  // namespace tollgate::store
