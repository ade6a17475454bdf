// CdrSpool (cdr_spool.h): an append-only line file and its head offset.
#include "store/cdr_spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "store/cdr_columns.h"

namespace tollgate::store {
namespace {

// The fields of one record: a statement-like row for bindCdr/readCdr
// (cdr_columns.h), so the spool carries exactly the cdr table's columns.
class SpoolRow {
 public:
  SpoolRow() : f_(kCdrColumnCount) {}
  explicit SpoolRow(std::vector<std::string> f) : f_(std::move(f)) {}
  SpoolRow& bind(int i, int64_t v) { return set(i, std::to_string(v)); }
  SpoolRow& bind(int i, int v) { return set(i, std::to_string(v)); }
  SpoolRow& bind(int i, bool v) { return set(i, v ? "1" : "0"); }
  SpoolRow& bind(int i, double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return set(i, buf);
  }
  // NULL (an unknown figure) is an empty field: the numeric columns are
  // never empty otherwise.
  template <typename T>
  SpoolRow& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : set(i, std::string());
  }
  SpoolRow& bind(int i, std::string_view v) { return set(i, std::string(v)); }
  SpoolRow& bind(int i, const std::string& v) { return set(i, v); }
  SpoolRow& bind(int i, const char* v) { return set(i, v); }
  std::string text(int col) const { return col < static_cast<int>(f_.size()) ? f_[col] : ""; }
  int64_t int64(int col) const { return std::strtoll(text(col).c_str(), nullptr, 10); }
  double real(int col) const { return std::strtod(text(col).c_str(), nullptr); }
  bool isNull(int col) const { return text(col).empty(); }
  const std::vector<std::string>& fields() const { return f_; }

 private:
  SpoolRow& set(int i, std::string v) {
    if (i >= 1 && i <= static_cast<int>(f_.size())) f_[static_cast<size_t>(i - 1)] = std::move(v);
    return *this;
  }
  std::vector<std::string> f_;
};

void appendEscaped(std::string& out, std::string_view v) {
  for (char ch : v) {
    switch (ch) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += ch;
    }
  }
}

std::vector<std::string> splitEscaped(std::string_view line) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (ch == '\t') {
      out.emplace_back();
    } else if (ch == '\\' && i + 1 < line.size()) {
      const char n = line[++i];
      out.back() += n == 't' ? '\t' : n == 'n' ? '\n' : n == 'r' ? '\r' : n;
    } else {
      out.back() += ch;
    }
  }
  return out;
}

bool writeAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// The spool's version marker: the first field of every line. A line of
// another version (a newer tollgate's spool) is not misread.
constexpr std::string_view kLineTag = "c1";

}  // namespace

std::string encodeSpooledCdr(const SpooledCdr& r) {
  SpoolRow row;
  bindCdr(row, r.cdr);
  std::string out(kLineTag);
  out += '\t';
  out += std::to_string(r.spooledUs);
  out += '\t';
  appendEscaped(out, r.uid);
  for (const std::string& f : row.fields()) {
    out += '\t';
    appendEscaped(out, f);
  }
  return out;
}

bool decodeSpooledCdr(std::string_view line, SpooledCdr* out) {
  auto f = splitEscaped(line);
  if (f.size() < 3 + static_cast<size_t>(kCdrColumnCount) || f[0] != kLineTag) return false;
  out->spooledUs = std::strtoll(f[1].c_str(), nullptr, 10);
  out->uid = f[2];
  SpoolRow row(std::vector<std::string>(f.begin() + 3, f.end()));
  out->cdr = call::Cdr{};
  readCdr(row, 0, out->cdr);
  return !out->uid.empty();
}

StoreError CdrSpool::error(const std::string& what) const {
  return StoreError{"cdr spool " + what + ": " + std::strerror(errno) + " (" + dir_ + ")"};
}

Result<std::unique_ptr<CdrSpool>, StoreError> CdrSpool::open(const std::string& dir,
                                                             uint64_t maxBytes) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Err{StoreError{"cdr spool: cannot create " + dir + ": " + std::strerror(errno)}};
  }
  const std::string file = dir + "/cdr.spool";
  const std::string headFile = dir + "/cdr.spool.head";
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return Err{StoreError{"cdr spool: cannot open " + file + ": " + std::strerror(errno)}};
  const int hfd = ::open(headFile.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (hfd < 0) {
    ::close(fd);
    return Err{StoreError{"cdr spool: cannot open " + headFile + ": " + std::strerror(errno)}};
  }
  std::unique_ptr<CdrSpool> s(new CdrSpool(dir, fd, hfd, maxBytes));
  char buf[32] = {};
  const ssize_t n = ::pread(hfd, buf, sizeof buf - 1, 0);
  s->head_ = n > 0 ? std::strtoull(buf, nullptr, 10) : 0;
  if (auto r = s->scan(); !r) return Err{r.error()};
  return s;
}

CdrSpool::~CdrSpool() {
  ::close(fd_);
  ::close(headFd_);
}

Result<Ok, StoreError> CdrSpool::scan() {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return Err{error("stat")};
  const auto fileSize = static_cast<uint64_t>(st.st_size);
  if (head_ > fileSize) head_ = 0;  // a head file from before a truncation: start over
  pending_ = 0;
  oldestUs_ = 0;
  uint64_t end = head_;  // end of the last complete line
  std::string chunk(64 * 1024, '\0');
  std::string line;
  uint64_t off = head_;
  while (off < fileSize) {
    const ssize_t n = ::pread(fd_, chunk.data(), chunk.size(), static_cast<off_t>(off));
    if (n < 0) return Err{error("read")};
    if (n == 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (chunk[static_cast<size_t>(i)] != '\n') {
        line += chunk[static_cast<size_t>(i)];
        continue;
      }
      if (pending_ == 0) {
        SpooledCdr r;
        if (decodeSpooledCdr(line, &r)) oldestUs_ = r.spooledUs;
      }
      ++pending_;
      end = off + static_cast<uint64_t>(i) + 1;
      line.clear();
    }
    off += static_cast<uint64_t>(n);
  }
  if (end < fileSize) {
    // A torn append (no fsync returned for it): never acknowledged, cut it.
    if (::ftruncate(fd_, static_cast<off_t>(end)) != 0) return Err{error("truncate")};
  }
  size_ = end;
  return Ok{};
}

Result<Ok, StoreError> CdrSpool::writeHead() {
  const std::string v = std::to_string(head_) + "\n";
  if (::ftruncate(headFd_, 0) != 0 || ::pwrite(headFd_, v.data(), v.size(), 0) < 0 ||
      ::fdatasync(headFd_) != 0) {
    return Err{error("write head")};
  }
  return Ok{};
}

Result<Ok, StoreError> CdrSpool::append(const std::vector<SpooledCdr>& batch) {
  if (batch.empty()) return Ok{};
  std::string out;
  for (const auto& r : batch) {
    out += encodeSpooledCdr(r);
    out += '\n';
  }
  if (size_ + out.size() > maxBytes_) {
    errno = ENOSPC;
    return Err{StoreError{"cdr spool full (" + std::to_string(size_) + " bytes, limit " +
                          std::to_string(maxBytes_) + "): " + dir_}};
  }
  if (::lseek(fd_, static_cast<off_t>(size_), SEEK_SET) < 0 ||
      !writeAll(fd_, out.data(), out.size()) || ::fdatasync(fd_) != 0) {
    const int e = errno;
    (void)::ftruncate(fd_, static_cast<off_t>(size_));  // nothing half-written stays
    errno = e;
    return Err{error("append")};
  }
  if (pending_ == 0) oldestUs_ = batch.front().spooledUs;
  size_ += out.size();
  pending_ += batch.size();
  return Ok{};
}

Result<std::vector<SpooledCdr>, StoreError> CdrSpool::peek(size_t max) {
  std::vector<SpooledCdr> out;
  peekedEnds_.clear();
  uint64_t off = head_;
  std::string chunk(64 * 1024, '\0');
  std::string line;
  while (off < size_ && out.size() < max) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk.size(), size_ - off));
    const ssize_t n = ::pread(fd_, chunk.data(), want, static_cast<off_t>(off));
    if (n <= 0) return Err{error("read")};
    size_t i = 0;
    for (; i < static_cast<size_t>(n) && out.size() < max; ++i) {
      if (chunk[i] != '\n') {
        line += chunk[i];
        continue;
      }
      SpooledCdr r;
      if (!decodeSpooledCdr(line, &r)) {
        // A line this build cannot read: keep going (it is counted as
        // pending until consumed) rather than blocking the spool forever.
        r.uid.clear();
      }
      out.push_back(std::move(r));
      peekedEnds_.push_back(off + i + 1);
      line.clear();
    }
    off += i;
    if (out.size() >= max) break;
  }
  return out;
}

Result<Ok, StoreError> CdrSpool::consume(size_t count) {
  if (count == 0) return Ok{};
  if (count > peekedEnds_.size()) return Err{StoreError{"cdr spool: consume past peek"}};
  head_ = peekedEnds_[count - 1];
  pending_ -= count;
  peekedEnds_.clear();
  if (head_ >= size_) {
    // Everything replayed: start the files over. The head goes to 0 first:
    // a crash in between replays the old records (skipped by uid) rather
    // than skipping new ones.
    head_ = 0;
    if (auto r = writeHead(); !r) return r;
    if (::ftruncate(fd_, 0) != 0 || ::fdatasync(fd_) != 0) return Err{error("truncate")};
    size_ = 0;
    pending_ = 0;
    oldestUs_ = 0;
    return Ok{};
  }
  if (auto r = writeHead(); !r) return r;
  // The new oldest record's time.
  char buf[64] = {};
  const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, static_cast<off_t>(head_));
  if (n > 0) {
    std::string_view v(buf, static_cast<size_t>(n));
    if (v.substr(0, kLineTag.size() + 1) == std::string(kLineTag) + "\t") {
      oldestUs_ = std::strtoll(buf + kLineTag.size() + 1, nullptr, 10);
    }
  }
  return Ok{};
}

}  // namespace tollgate::store
