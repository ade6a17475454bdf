// CdrSpool: what a CDR written to the spool looks like after a restart,
// the head after a consume, a torn append, and the round trip of every
// column. No database: the spool is a local file.
#include "store/cdr_spool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "store/pg_connection.h"
#include "store/test_temp_dir.h"

namespace tollgate::store {
namespace {

SpooledCdr record(int i) {
  SpooledCdr r;
  r.uid = "node-a/0123456789abcdef/" + std::to_string(i);
  r.spooledUs = 1'790'000'000'000'000 + i;
  r.cdr.callId = "call-" + std::to_string(i) + "@192.0.2.1";
  r.cdr.startUs = 1000 + i;
  r.cdr.answerUs = 2000 + i;
  r.cdr.endUs = 3000 + i;
  r.cdr.caller = "4420";
  r.cdr.callee = "15551234567";
  r.cdr.sourceAddress = "192.0.2.1:5060";
  r.cdr.transport = "udp";
  r.cdr.mappingGateway = "cust-a";
  r.cdr.routingGateway = "carrier-x";
  r.cdr.gatewaysTried = "carrier-y,carrier-x";
  r.cdr.finalCode = 200;
  r.cdr.durationMs = 1000;
  r.cdr.hangup = call::HangupSide::Caller;
  r.cdr.reason = call::TerminationReason::CallerBye;
  // Tabs, newlines and backslashes survive the line format.
  r.cdr.callerRaw = "44\t20\\x\n";
  r.cdr.calleeRaw = "";
  return r;
}

class CdrSpoolTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(dir_.ok()); }
  std::string spoolDir() const { return dir_.file("spool"); }
  TestTempDir dir_;
};

TEST_F(CdrSpoolTest, EveryColumnRoundTrips) {
  const SpooledCdr in = record(7);
  SpooledCdr out;
  ASSERT_TRUE(decodeSpooledCdr(encodeSpooledCdr(in), &out));
  EXPECT_EQ(encodeSpooledCdr(in).find('\n'), std::string::npos);
  EXPECT_EQ(out.uid, in.uid);
  EXPECT_EQ(out.spooledUs, in.spooledUs);
  EXPECT_EQ(out.cdr.callId, in.cdr.callId);
  EXPECT_EQ(out.cdr.answerUs, in.cdr.answerUs);
  EXPECT_EQ(out.cdr.gatewaysTried, in.cdr.gatewaysTried);
  EXPECT_EQ(out.cdr.finalCode, 200);
  EXPECT_EQ(out.cdr.hangup, call::HangupSide::Caller);
  EXPECT_EQ(out.cdr.reason, call::TerminationReason::CallerBye);
  EXPECT_EQ(out.cdr.callerRaw, in.cdr.callerRaw);
  EXPECT_FALSE(decodeSpooledCdr("x1\tgarbage", &out));
}

TEST_F(CdrSpoolTest, KeepsOrderAcrossRestartsAndConsumes) {
  {
    auto s = CdrSpool::open(spoolDir());
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_TRUE((*s)->append({record(1), record(2)}).ok());
    ASSERT_TRUE((*s)->append({record(3)}).ok());
    EXPECT_EQ((*s)->pendingRecords(), 3u);
    EXPECT_EQ((*s)->oldestSpooledUs(), record(1).spooledUs);
    auto peeked = (*s)->peek(2);
    ASSERT_TRUE(peeked.ok());
    ASSERT_EQ(peeked->size(), 2u);
    EXPECT_EQ((*peeked)[0].uid, record(1).uid);
    ASSERT_TRUE((*s)->consume(1).ok());
    EXPECT_EQ((*s)->oldestSpooledUs(), record(2).spooledUs);
  }
  // A restart finds the two records not consumed, oldest first.
  auto s = CdrSpool::open(spoolDir());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->pendingRecords(), 2u);
  auto peeked = (*s)->peek(10);
  ASSERT_TRUE(peeked.ok());
  ASSERT_EQ(peeked->size(), 2u);
  EXPECT_EQ((*peeked)[0].uid, record(2).uid);
  EXPECT_EQ((*peeked)[1].uid, record(3).uid);
  ASSERT_TRUE((*s)->consume(2).ok());
  EXPECT_EQ((*s)->pendingRecords(), 0u);
  EXPECT_EQ((*s)->pendingBytes(), 0u);
  struct stat st {};
  ASSERT_EQ(::stat((spoolDir() + "/cdr.spool").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0) << "an empty spool starts the file over";
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(spoolDir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(CdrSpoolTest, TornAppendIsCutAtOpen) {
  {
    auto s = CdrSpool::open(spoolDir());
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->append({record(1)}).ok());
  }
  {
    // The node died inside the next append: half a line, no newline.
    std::ofstream f(spoolDir() + "/cdr.spool", std::ios::app);
    f << encodeSpooledCdr(record(2)).substr(0, 40);
  }
  auto s = CdrSpool::open(spoolDir());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->pendingRecords(), 1u);
  ASSERT_TRUE((*s)->append({record(3)}).ok());
  auto peeked = (*s)->peek(10);
  ASSERT_TRUE(peeked.ok());
  ASSERT_EQ(peeked->size(), 2u);
  EXPECT_EQ((*peeked)[1].uid, record(3).uid);
}

TEST_F(CdrSpoolTest, FullSpoolRefusesAndKeepsWhatItHas) {
  auto s = CdrSpool::open(spoolDir(), /*maxBytes=*/600);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->append({record(1)}).ok());
  auto r = (*s)->append({record(2), record(3), record(4)});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cdr spool full"), std::string::npos) << r.error().message;
  EXPECT_EQ((*s)->pendingRecords(), 1u);
}

TEST(PgSqlTranslation, NumberedParametersAndStrposOutsideLiterals) {
  EXPECT_EQ(detail::translateSqlForPg("SELECT a FROM t WHERE x = ?1 AND y = ?12"),
            "SELECT a FROM t WHERE x = $1 AND y = $12");
  EXPECT_EQ(detail::translateSqlForPg("SELECT '?1', \"?2\" FROM t WHERE instr(a, ?3) > 0"),
            "SELECT '?1', \"?2\" FROM t WHERE strpos(a, $3) > 0");
  EXPECT_EQ(detail::translateSqlForPg("SELECT reinstr(a) FROM t"), "SELECT reinstr(a) FROM t");
}

}  // namespace
}  // namespace tollgate::store
