// Files that hold secrets (the store with its HA1 digests, carrier passwords
// and session hashes; the local API token; exports an operator writes)
// belong to their owner alone: files 0600, directories tollgate creates
// 0700. Modes are set explicitly (mkdir/open then chmod), so the process
// umask (0022, 0000, anything) never widens them. Stateless functions:
// thread-safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace tollgate::files {

inline constexpr unsigned kPrivateFileMode = 0600;
inline constexpr unsigned kPrivateDirectoryMode = 0700;
// Permission bits that let anybody but the owner in.
inline constexpr unsigned kOthersBits = 0077;

struct PathInfo {
  unsigned mode = 0;  // permission bits only (& 07777)
  bool directory = false;
  uint32_t owner = 0;
};

// stat(2) of `path` (following symlinks): nullopt when it does not exist.
Result<std::optional<PathInfo>, std::string> inspect(const std::string& path);

inline bool openToOthers(unsigned mode) {
  return (mode & kOthersBits) != 0;
}
// "0644".
std::string octal(unsigned mode);

// Creates `dir` and its missing parents; each directory created here gets
// kPrivateDirectoryMode. Existing directories are left as they are (one may
// be shared, like /var/lib). Returns the directories created.
Result<std::vector<std::string>, std::string> makePrivateDirectories(const std::string& dir);

// Creates `path` empty with kPrivateFileMode when it does not exist (never
// through a symlink); true when it created it.
Result<bool, std::string> createPrivateFile(const std::string& path);

// Clears the group and other bits of an existing file (0644 -> 0600) when
// any is set. Returns the mode it had when it changed it, nullopt when
// there was nothing to do (absent, or already private).
Result<std::optional<unsigned>, std::string> restrictToOwner(const std::string& path);

// Makes the file open at `fd` belong to the owner (user and group) of the
// directory `dir`. For root only: a file root creates in the store's
// directory (a restore, its lock) must stay readable by the user the node
// runs as, who owns that directory. false when chown fails or `dir` cannot
// be read.
bool giveToDirectoryOwner(int fd, const std::string& dir);

// Opens `path` for writing (truncating), creating it with kPrivateFileMode
// when it does not exist. An existing file keeps its mode: it may be a
// FIFO, /dev/stdout or a file the operator prepared on purpose. Null with
// errno set on failure.
std::FILE* openPrivateForWriting(const std::string& path);

}  // namespace tollgate::files
