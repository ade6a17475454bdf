#include "common/log.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

namespace tollgate::log {
namespace {

// A stand-in for journald: a unix datagram socket the writer sends to.
class JournalSocket {
 public:
  JournalSocket() {
    char dir[] = "/tmp/tollgate-journal-XXXXXX";
    dir_ = ::mkdtemp(dir);
    path_ = dir_ + "/socket";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~JournalSocket() {
    setStderr();
    ::close(fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  // The next entry's fields (KEY=value lines), empty when none came.
  std::multimap<std::string, std::string> next() {
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    std::multimap<std::string, std::string> fields;
    if (n <= 0) return fields;
    raw_.assign(buf, static_cast<size_t>(n));
    size_t pos = 0;
    while (pos < raw_.size()) {
      size_t nl = raw_.find('\n', pos);
      EXPECT_NE(nl, std::string::npos) << "every field ends with a newline";
      if (nl == std::string::npos) break;
      std::string line = raw_.substr(pos, nl - pos);
      size_t eq = line.find('=');
      EXPECT_NE(eq, std::string::npos) << "no binary fields: " << line;
      if (eq != std::string::npos) fields.emplace(line.substr(0, eq), line.substr(eq + 1));
      pos = nl + 1;
    }
    return fields;
  }
  const std::string& raw() const { return raw_; }

 private:
  std::string dir_;
  std::string path_;
  std::string raw_;
  int fd_ = -1;
};

std::string one(const std::multimap<std::string, std::string>& f, const std::string& key) {
  auto it = f.find(key);
  return it == f.end() ? std::string("<absent>") : it->second;
}

TEST(LogJournalTest, PrioritiesFollowSyslogNumbers) {
  EXPECT_EQ(journalPriority(Level::Debug), 7);
  EXPECT_EQ(journalPriority(Level::Info), 6);
  EXPECT_EQ(journalPriority(Level::Warn), 4);
  EXPECT_EQ(journalPriority(Level::Error), 3);
}

TEST(LogJournalTest, SendsOneEntryPerLineWithPriorityAndFields) {
  JournalSocket journal;
  ASSERT_TRUE(setJournal(journal.path()));
  setLevel(Level::Debug);
  const Stats before = stats();
  warn("auth.suspended").kv("user", "alice").kv("call_id", "abc@host").kv("attempts", 5);
  auto f = journal.next();
  EXPECT_EQ(one(f, "PRIORITY"), "4");
  EXPECT_EQ(one(f, "EVENT"), "auth.suspended");
  EXPECT_EQ(one(f, "SYSLOG_IDENTIFIER"), "tollgate");
  EXPECT_EQ(one(f, "USER"), "alice");
  EXPECT_EQ(one(f, "CALL_ID"), "abc@host");
  EXPECT_EQ(one(f, "ATTEMPTS"), "5");
  EXPECT_EQ(one(f, "MESSAGE"), "auth.suspended user=alice call_id=abc@host attempts=5");
  EXPECT_EQ(stats().journalSent, before.journalSent + 1);

  error("store.open_failed").kv("ok", false).kv("delay", 1.5);
  f = journal.next();
  EXPECT_EQ(one(f, "PRIORITY"), "3");
  EXPECT_EQ(one(f, "OK"), "false");
  EXPECT_EQ(one(f, "DELAY"), "1.500");
  info("node.ready");
  EXPECT_EQ(one(journal.next(), "PRIORITY"), "6");
  debug("call.answered");
  EXPECT_EQ(one(journal.next(), "PRIORITY"), "7");

  // Below the level: nothing is sent.
  setLevel(Level::Warn);
  info("node.ready");
  EXPECT_TRUE(journal.next().empty());
  setLevel(Level::Info);
}

TEST(LogJournalTest, HostileValuesCannotAddFieldsOrChangePriority) {
  JournalSocket journal;
  ASSERT_TRUE(setJournal(journal.path()));
  info("call.end")
      .kv("call_id", "x\nPRIORITY=0\nEVENT=forged")
      .kv("priority", "0")
      .kv("message", "forged")
      .kv("_PID", "1");
  auto f = journal.next();
  EXPECT_EQ(f.count("PRIORITY"), 1u);
  EXPECT_EQ(one(f, "PRIORITY"), "6");
  EXPECT_EQ(f.count("EVENT"), 1u);
  EXPECT_EQ(one(f, "EVENT"), "call.end");
  EXPECT_EQ(f.count("MESSAGE"), 1u);
  EXPECT_EQ(one(f, "CALL_ID"), "x\\nPRIORITY=0\\nEVENT=forged");
  EXPECT_EQ(one(f, "TG_PRIORITY"), "0");
  EXPECT_EQ(one(f, "TG_MESSAGE"), "forged");
  EXPECT_EQ(one(f, "F_PID"), "1");  // trusted fields (_PID) are journald's alone
}

TEST(LogJournalTest, FieldNamesAreJournalSafe) {
  EXPECT_EQ(journalFieldName("call_id"), "CALL_ID");
  EXPECT_EQ(journalFieldName("a.b-c"), "A_B_C");
  EXPECT_EQ(journalFieldName("2xx"), "F2XX");
  EXPECT_EQ(journalFieldName("_x"), "F_X");
  EXPECT_EQ(journalFieldName(""), "F");
  EXPECT_EQ(journalFieldName("syslog_identifier"), "TG_SYSLOG_IDENTIFIER");
  EXPECT_EQ(journalFieldName(std::string(100, 'k')).size(), kJournalMaxFieldName);
}

// What the writer puts on stderr while `fn` runs, with JOURNAL_STREAM naming
// that stderr (asJournalStream) or absent.
template <typename Fn>
std::string capturedStderr(bool asJournalStream, Fn fn) {
  char path[] = "/tmp/tollgate-stderr-XXXXXX";
  int fd = ::mkstemp(path);
  int saved = ::dup(STDERR_FILENO);
  ::dup2(fd, STDERR_FILENO);
  struct stat st {};
  ::fstat(fd, &st);
  const std::string stream = std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
                             std::to_string(static_cast<unsigned long long>(st.st_ino));
  if (asJournalStream) ::setenv("JOURNAL_STREAM", stream.c_str(), 1);
  fn();
  ::unsetenv("JOURNAL_STREAM");
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string out(4096, '\0');
  ssize_t n = ::pread(fd, out.data(), out.size(), 0);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  ::close(fd);
  ::unlink(path);
  return out;
}

TEST(LogJournalTest, FallsBackToStderrWhenJournaldIsAbsent) {
  const Stats before = stats();
  std::string out = capturedStderr(false, [] {
    ASSERT_TRUE(setJournal("/nonexistent/tollgate-test/socket"));
    warn("test.fallback").kv("k", "v");
    setStderr();
  });
  EXPECT_EQ(stats().journalFallbacks, before.journalFallbacks + 1);
  EXPECT_EQ(stats().journalSent, before.journalSent);
  EXPECT_EQ(out.rfind("ts=", 0), 0u) << out;
  EXPECT_NE(out.find(" level=warn event=test.fallback k=v\n"), std::string::npos) << out;

  // stderr is the journal's stream: the line keeps its priority there.
  out = capturedStderr(true, [] {
    ASSERT_TRUE(setJournal("/nonexistent/tollgate-test/socket"));
    error("test.fallback");
    setStderr();
  });
  EXPECT_EQ(out.rfind("<3>ts=", 0), 0u) << out;
}

TEST(LogJournalTest, DetectsStderrConnectedToTheJournal) {
  struct stat st {};
  ASSERT_EQ(::fstat(STDERR_FILENO, &st), 0);
  const char* saved = std::getenv("JOURNAL_STREAM");
  std::string keep = saved ? saved : "";
  const std::string mine = std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
                           std::to_string(static_cast<unsigned long long>(st.st_ino));
  ::setenv("JOURNAL_STREAM", mine.c_str(), 1);
  EXPECT_TRUE(stderrIsJournal());
  const std::string other = std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
                            std::to_string(static_cast<unsigned long long>(st.st_ino) + 1);
  ::setenv("JOURNAL_STREAM", other.c_str(), 1);
  EXPECT_FALSE(stderrIsJournal());
  ::setenv("JOURNAL_STREAM", "garbage", 1);
  EXPECT_FALSE(stderrIsJournal());
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(stderrIsJournal());
  if (saved) ::setenv("JOURNAL_STREAM", keep.c_str(), 1);
}

}  // namespace
}  // namespace tollgate::log
