// Owner-only files and directories. See private_files.h.
#include "common/private_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace tollgate::files {

namespace {

std::string failure(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

}  // namespace

Result<std::optional<PathInfo>, std::string> inspect(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<PathInfo>();
    return Err{failure("cannot stat", path)};
  }
  PathInfo info;
  info.mode = static_cast<unsigned>(st.st_mode) & 07777;
  info.directory = S_ISDIR(st.st_mode);
  info.owner = static_cast<uint32_t>(st.st_uid);
  return std::optional<PathInfo>(info);
}

std::string octal(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

Result<std::vector<std::string>, std::string> makePrivateDirectories(const std::string& dir) {
  std::vector<std::string> created;
  std::filesystem::path so_far;
  for (const auto& part : std::filesystem::path(dir)) {
    so_far /= part;
    const std::string p = so_far.string();
    if (p.empty() || part == "/") continue;
    if (::mkdir(p.c_str(), kPrivateDirectoryMode) == 0) {
      // mkdir's mode is masked by the umask; chmod is not.
      if (::chmod(p.c_str(), kPrivateDirectoryMode) != 0) return Err{failure("cannot chmod", p)};
      created.push_back(p);
      continue;
    }
    if (errno != EEXIST) return Err{failure("cannot create directory", p)};
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Err{"cannot create directory " + p + ": a file of that name exists"};
    }
  }
  return created;
}

Result<bool, std::string> createPrivateFile(const std::string& path) {
  int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, kPrivateFileMode);
  if (fd < 0) {
    if (errno == EEXIST) return false;
    return Err{failure("cannot create", path)};
  }
  // The umask may have taken owner bits away (umask 0277): set exactly.
  const bool ok = ::fchmod(fd, kPrivateFileMode) == 0;
  std::string error = ok ? "" : failure("cannot chmod", path);
  ::close(fd);
  if (!ok) return Err{std::move(error)};
  return true;
}

Result<std::optional<unsigned>, std::string> restrictToOwner(const std::string& path) {
  auto info = inspect(path);
  if (!info) return Err{info.error()};
  if (!*info || !openToOthers((*info)->mode)) return std::optional<unsigned>();
  const unsigned before = (*info)->mode;
  if (::chmod(path.c_str(), before & ~kOthersBits) != 0) return Err{failure("cannot chmod", path)};
  return std::optional<unsigned>(before);
}

bool giveToDirectoryOwner(int fd, const std::string& dir) {
  struct stat d {};
  struct stat f {};
  if (::stat(dir.c_str(), &d) != 0 || ::fstat(fd, &f) != 0) return false;
  if (f.st_uid == d.st_uid && f.st_gid == d.st_gid) return true;
  return ::fchown(fd, d.st_uid, d.st_gid) == 0;
}

std::FILE* openPrivateForWriting(const std::string& path) {
  // Two tries: the file may vanish between a failed O_EXCL and the open of
  // the existing one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kPrivateFileMode);
    if (fd >= 0) {
      if (::fchmod(fd, kPrivateFileMode) != 0) {
        const int e = errno;
        ::close(fd);
        errno = e;
        return nullptr;
      }
    } else if (errno == EEXIST) {
      fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
      if (fd < 0 && errno == ENOENT) continue;
    }
    if (fd < 0) return nullptr;
    std::FILE* f = ::fdopen(fd, "wb");
    if (f == nullptr) {
      const int e = errno;
      ::close(fd);
      errno = e;
    }
    return f;
  }
  return nullptr;
}

}  // namespace tollgate::files
