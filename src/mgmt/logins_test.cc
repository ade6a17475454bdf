// LoginService on a real SQLite file with a manual clock: lockout per pair,
// per source and per account, expiry, sessions and tokens.
#include "mgmt/logins.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "mgmt/secrets.h"
#include "store/test_temp_dir.h"

namespace tollgate::mgmt {
namespace {

using Kind = LoginOutcome::Kind;

class LoginsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    auto s = store::openSqliteMgmtStore(dir_.file("t.db"));
    ASSERT_TRUE(s.ok()) << s.error().message;
    st_ = std::move(s).value();
    settings_.attempts = 3;
    settings_.windowUs = 60'000'000;
    settings_.durationUs = 120'000'000;
    addUser("alice", "admin", "correct horse battery");
    addUser("bob", "operator", "purple elephant umbrella");
  }
  void addUser(const std::string& name, const std::string& role, const std::string& pw) {
    store::MgmtUser u{name, role, *hashPassword(pw), true, 1, 1, 1};
    ASSERT_TRUE(st_->insertUser(u).value());
  }
  LoginOutcome login(LoginService& s, const std::string& user, const std::string& pw,
                     const char* ip) {
    return s.login(*st_, user, pw, *net::IpAddress::parse(ip), std::string(ip) + ":1");
  }

  store::TestTempDir dir_;
  std::unique_ptr<store::MgmtStore> st_;
  LoginSettings settings_;
  ManualClock clock_;
  ApiCounters counters_;
};

TEST_F(LoginsTest, PairAndSourceLockButNotTheAdminElsewhere) {
  LoginService s(settings_, clock_, counters_, "");
  for (int i = 0; i < 2; ++i) EXPECT_EQ(login(s, "alice", "x", "10.0.0.9").kind, Kind::Failed);
  auto third = login(s, "alice", "x", "10.0.0.9");
  EXPECT_EQ(third.kind, Kind::Failed);
  EXPECT_EQ(third.locked, (std::vector<std::string>{"source", "pair"}));
  auto locked = login(s, "alice", "correct horse battery", "10.0.0.9");
  EXPECT_EQ(locked.kind, Kind::Locked);
  EXPECT_EQ(locked.retryAfterSeconds, 120);
  EXPECT_EQ(login(s, "bob", "purple elephant umbrella", "10.0.0.9").kind, Kind::Locked);
  EXPECT_EQ(login(s, "alice", "correct horse battery", "10.0.0.1").kind, Kind::Ok);
  EXPECT_EQ(counters_.lockoutsPair.load(), 1u);
  EXPECT_EQ(counters_.lockoutsSource.load(), 1u);
  EXPECT_EQ(s.activeLocks(*st_), 2u);
  // Expiry: after the duration the right password works again.
  clock_.advance(std::chrono::seconds(121));
  EXPECT_EQ(login(s, "alice", "correct horse battery", "10.0.0.9").kind, Kind::Ok);
  EXPECT_EQ(s.activeLocks(*st_), 0u);
}

TEST_F(LoginsTest, FailuresOutsideTheWindowAreForgotten) {
  LoginService s(settings_, clock_, counters_, "");
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(login(s, "alice", "x", "10.0.0.9").kind, Kind::Failed);
    EXPECT_EQ(login(s, "alice", "x", "10.0.0.9").kind, Kind::Failed);
    clock_.advance(std::chrono::seconds(61));
  }
  EXPECT_EQ(login(s, "alice", "correct horse battery", "10.0.0.9").kind, Kind::Ok);
}

TEST_F(LoginsTest, AccountScopeLocksTheAccountEverywhere) {
  settings_.accountScope = true;
  LoginService s(settings_, clock_, counters_, "");
  EXPECT_EQ(login(s, "alice", "x", "10.0.0.7").kind, Kind::Failed);
  EXPECT_EQ(login(s, "alice", "x", "10.0.0.8").kind, Kind::Failed);
  auto third = login(s, "alice", "x", "10.0.0.9");
  EXPECT_EQ(third.locked, (std::vector<std::string>{"account"}));
  EXPECT_EQ(login(s, "alice", "correct horse battery", "10.0.0.1").kind, Kind::Locked);
  EXPECT_EQ(login(s, "bob", "purple elephant umbrella", "10.0.0.1").kind, Kind::Ok);
}

TEST_F(LoginsTest, UnknownAndDisabledUsersFailLikeWrongPasswords) {
  LoginService s(settings_, clock_, counters_, "");
  auto unknown = login(s, "mallory", "whatever", "10.0.0.5");
  auto wrong = login(s, "alice", "whatever", "10.0.0.5");
  EXPECT_EQ(unknown.kind, Kind::Failed);
  EXPECT_EQ(wrong.kind, Kind::Failed);
  store::MgmtUser bob = st_->findUser("bob").value().value();
  bob.enabled = false;
  ASSERT_TRUE(st_->updateUser(bob).value());
  EXPECT_EQ(login(s, "bob", "purple elephant umbrella", "10.0.0.6").kind, Kind::Failed);
  // Unknown names count against the source (and the pair) like any other.
  auto f = st_->loginFailure("pair", "mallory", "10.0.0.5").value();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->failures, 1);
}

TEST_F(LoginsTest, SessionsExpireAndTokensCarryAtMostTheUsersRole) {
  LoginService s(settings_, clock_, counters_, sha256Hex("tgl_local"));
  auto ok = login(s, "bob", "purple elephant umbrella", "10.0.0.1");
  ASSERT_EQ(ok.kind, Kind::Ok);
  auto p = s.authenticate(*st_, "Bearer " + ok.token);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->name, "bob");
  EXPECT_EQ(p->role, Role::Operator);
  clock_.advance(std::chrono::microseconds(settings_.sessionIdleUs + 1));
  auto expired = s.authenticate(*st_, "Bearer " + ok.token);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error(), AuthFailure::Expired);

  store::ApiToken t;
  std::string secret = newToken(kApiTokenPrefix);
  t.name = "x";
  t.user = "bob";
  t.role = "admin";  // more than bob has: bob's role wins
  t.tokenHash = sha256Hex(secret);
  ASSERT_TRUE(st_->insertToken(t).ok());
  auto tp = s.authenticate(*st_, "bearer " + secret);
  ASSERT_TRUE(tp.ok());
  EXPECT_EQ(tp->role, Role::Operator);
  EXPECT_EQ(tp->kind, Principal::Kind::Token);

  auto local = s.authenticate(*st_, "Bearer tgl_local");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->role, Role::Admin);
  EXPECT_FALSE(s.authenticate(*st_, "Bearer tgl_other").ok());
  EXPECT_FALSE(s.authenticate(*st_, "Basic abc").ok());
}

TEST_F(LoginsTest, LockTableIsBounded) {
  settings_.maxLockRows = 50;
  LoginService s(settings_, clock_, counters_, "");
  for (int i = 0; i < 40; ++i) {
    (void)login(s, "user" + std::to_string(i), "x", ("10.1.0." + std::to_string(i)).c_str());
  }
  auto all = st_->listLoginFailures(clock_.wallMicros(), settings_.windowUs).value();
  EXPECT_LE(all.size(), 50u);
}

TEST_F(LoginsTest, ParallelAttemptsNeverCheckMoreThanTheLimit) {
  LoginService s(settings_, clock_, counters_, "");
  constexpr int kThreads = 12;
  std::vector<std::thread> threads;
  std::vector<Kind> kinds(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto opened = store::openSqliteMgmtStore(dir_.file("t.db"));
      ASSERT_TRUE(opened.ok());
      auto st = std::move(opened).value();
      kinds[i] =
          s.login(*st, "alice", "wrong", *net::IpAddress::parse("10.0.0.9"), "10.0.0.9:1").kind;
    });
  }
  for (auto& t : threads) t.join();
  // settings_.attempts (3) password checks, every other attempt refused
  // before its hash: by the lock, or by the attempts already in flight.
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), Kind::Failed), 3);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), Kind::Locked), kThreads - 3);
  EXPECT_EQ(counters_.loginFailed.load(), 3u);
  EXPECT_EQ(counters_.loginRefusedLocked.load() + counters_.loginRefusedInFlight.load(),
            static_cast<uint64_t>(kThreads - 3));
  EXPECT_EQ(login(s, "alice", "correct horse battery", "10.0.0.9").kind, Kind::Locked);
}

TEST_F(LoginsTest, ConfirmPasswordCountsAgainstTheLockout) {
  LoginService s(settings_, clock_, counters_, "");
  const auto ip = *net::IpAddress::parse("10.0.0.5");
  EXPECT_EQ(s.confirmPassword(*st_, "alice", "correct horse battery", ip).kind, Kind::Ok);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(s.confirmPassword(*st_, "alice", "x", ip).kind, Kind::Failed);
  EXPECT_EQ(s.confirmPassword(*st_, "alice", "correct horse battery", ip).kind, Kind::Locked);
  EXPECT_EQ(login(s, "alice", "correct horse battery", "10.0.0.5").kind, Kind::Locked);
}

}  // namespace
}  // namespace tollgate::mgmt
