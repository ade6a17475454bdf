// Micro-benchmark of the per-INVITE call policy work on the worker thread
// (issue 5): CallPolicy::admit() + onEnded() with every check enabled and
// large tables -- 100k-number black lists with prefixes and wildcards, a
// system white list, 100k dynamic blacklist entries, the three automatic
// rules tracking up to 100k numbers each, gateway + account limits and 100
// fraud rules -- and NumberMatcher::matches() alone.
//
//   build/bin/policy_admit_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "admission/call_policy.h"

namespace {

using namespace tollgate;
using namespace tollgate::admission;

std::vector<std::string> numbers(size_t n, uint64_t seed, const char* prefix) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(prefix + std::to_string(rng() % 10'000'000'000ull));
  return out;
}

std::vector<NumberList> bigLists() {
  NumberList black{"fraud-feed", ListKind::Black, "", numbers(100'000, 1, "44")};
  for (int i = 0; i < 1000; ++i) black.patterns.push_back("1900" + std::to_string(i) + "*");
  for (int i = 0; i < 100; ++i) black.patterns.push_back("3" + std::to_string(i) + "??5*");
  NumberList white{"staff", ListKind::SystemWhite, "", numbers(10'000, 2, "33")};
  return {black, white};
}

Provisioning bigProvisioning() {
  Provisioning p;
  Account acme;
  acme.name = "acme";
  acme.limits = {1e5, 100'000, 1'000'000};
  acme.lists.callee = {"fraud-feed"};
  p.accounts.push_back(acme);
  MappingGateway g;
  g.name = "gw";
  g.addresses = {"10.0.0.1"};
  g.policy.account = "acme";
  g.policy.limits = {1e5, 100'000, 1'000'000};
  g.policy.lists.caller = {"fraud-feed"};
  p.mappingGateways.push_back(g);
  for (int i = 0; i < 100; ++i) {
    FraudRule r;
    r.name = "rule" + std::to_string(i);
    r.prefixes = {"88" + std::to_string(i), "99" + std::to_string(i)};
    r.callsPerMinute = {0, 1'000'000};
    p.fraudRules.push_back(r);
  }
  FraudRule all;
  all.name = "all";
  all.prefixes = {""};
  all.concurrent = {0, 1'000'000};
  p.fraudRules.push_back(all);
  return p;
}

void BM_AdmitAndEnd(benchmark::State& state) {
  PolicySettings s;
  auto rule = [](uint32_t limit) {
    BlacklistRuleSettings r;
    r.limit = limit;
    r.intervalUs = 60'000'000;
    r.expireUs = 3'600'000'000;
    return r;
  };
  s.blacklist.maliciousCaller = rule(1000);
  s.blacklist.maliciousCallee = rule(1000);
  s.blacklist.noAnswer = rule(1000);
  s.blacklist.callerConcurrent = rule(1000);
  CallPolicy policy(s);
  ManualClock clock;
  policy.setSnapshot(std::make_shared<PolicySnapshot>(bigProvisioning(), bigLists()), clock.now());
  for (const std::string& n : numbers(100'000, 3, "55")) {
    BlacklistEntry e;
    e.number = n;
    e.expiresUs = clock.wallMicros() + 3'600'000'000;
    policy.blacklist().put(e);
  }
  // Callers and callees not on any list (a call that passes every check
  // costs the most); 200k distinct numbers so the rule tables fill and evict.
  const auto callers = numbers(200'000, 4, "61");
  const auto callees = numbers(200'000, 5, "62");
  std::vector<Listing> listings;
  size_t i = 0;
  for (auto _ : state) {
    const std::string& caller = callers[i % callers.size()];
    const std::string& callee = callees[(i * 7) % callees.size()];
    CallTicket t;
    PolicyDecision d =
        policy.admit("gw", caller, callee, clock.now(), clock.wallMicros(), &t, &listings);
    benchmark::DoNotOptimize(d);
    policy.onEnded(t, "gw", caller, callee, (i & 1) != 0, 0, clock.wallMicros(), &listings);
    listings.clear();
    clock.advance(Micros(10));
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AdmitAndEnd);

// The same with nothing configured (no limits, lists, rules): the cost
// every INVITE pays for the policy being there.
void BM_AdmitAndEndNoPolicy(benchmark::State& state) {
  CallPolicy policy;
  ManualClock clock;
  Provisioning p;
  MappingGateway g;
  g.name = "gw";
  g.addresses = {"10.0.0.1"};
  p.mappingGateways.push_back(g);
  policy.setSnapshot(std::make_shared<PolicySnapshot>(p, std::vector<NumberList>{}), clock.now());
  const auto callers = numbers(1000, 4, "61");
  std::vector<Listing> listings;
  size_t i = 0;
  for (auto _ : state) {
    const std::string& n = callers[i++ % callers.size()];
    CallTicket t;
    benchmark::DoNotOptimize(
        policy.admit("gw", n, n, clock.now(), clock.wallMicros(), &t, &listings));
    policy.onEnded(t, "gw", n, n, false, 0, clock.wallMicros(), &listings);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AdmitAndEndNoPolicy);

void BM_NumberMatcher(benchmark::State& state) {
  auto lists = bigLists();
  NumberMatcher m(lists[0].patterns);
  const auto probes = numbers(100'000, 6, "44");
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.matches(probes[i++ % probes.size()]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NumberMatcher);

// The periodic counter save (policy.counter_save_interval) runs on the
// worker: its cost with the three rule tables full (100k numbers each).
void BM_SaveCountersFullTables(benchmark::State& state) {
  DynamicBlacklistSettings s;
  for (BlacklistRuleSettings* r : {&s.maliciousCaller, &s.maliciousCallee, &s.noAnswer}) {
    r->limit = 1000;
    r->intervalUs = 3'600'000'000;
  }
  DynamicBlacklist bl(s);
  ManualClock clock;
  const auto nums = numbers(100'000, 7, "7");
  std::vector<Listing> out;
  for (const std::string& n : nums) {
    bl.onAttempt(n, false, n, false, "gw", clock.wallMicros(), &out);
    bl.onUnanswered(n, "gw", clock.wallMicros(), &out);
  }
  size_t bytes = 0;
  for (auto _ : state) {
    std::string blob = bl.saveCounters(clock.wallMicros());
    bytes = blob.size();
    benchmark::DoNotOptimize(blob);
  }
  state.counters["blob_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_SaveCountersFullTables)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
