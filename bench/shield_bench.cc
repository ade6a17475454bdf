// Decisions per second of the shield's pre-parse path (Shield::inspect) on
// one core, for the cases that matter under attack:
//
//   BannedSource          a banned source: one trusted-set probe, one ban lookup
//   TrustedSource         a gateway's INVITE: trusted-set probe, start line, bucket
//   TrustedResponse       a gateway's response: trusted-set probe, start line
//   UntrustedFullCheck    an untrusted REGISTER that passes every check
//                         (User-Agent scan, source and prefix windows and buckets,
//                         method policy, concurrency), over 4096 sources
//   UntrustedMillionSources  the same over 1,000,000 sources (cache-cold tables)
//
// Run: build/bin/shield_bench (targets: >= 5 M/s banned or trusted,
// >= 1 M/s full untrusted check). items_per_second is decisions/s.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "common/log.h"
#include "shield/shield.h"

namespace tollgate::shield {
namespace {

struct NullSink final : transport::MessageSink {
  void onMessage(const transport::Flow&, std::string&&) override {}
};

const std::string kInvite =
    "INVITE sip:15551234567@192.0.2.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-74bf9;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:4420@203.0.113.10>;tag=9fxced76sl\r\n"
    "To: <sip:15551234567@192.0.2.1>\r\n"
    "Call-ID: 3848276298220188511@203.0.113.10\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:4420@203.0.113.10:5060>\r\n"
    "User-Agent: Cisco-SIPGateway/IOS-15.x\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 0\r\n\r\n";

const std::string kRegister =
    "REGISTER sip:192.0.2.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-2c1;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:200@192.0.2.1>;tag=a73kszlfl\r\n"
    "To: <sip:200@192.0.2.1>\r\n"
    "Call-ID: 1j9FpLxk3uxtm8tn@198.51.100.7\r\n"
    "CSeq: 2 REGISTER\r\n"
    "Contact: <sip:200@198.51.100.7:5060>\r\n"
    "User-Agent: Grandstream GXP2170 1.0.11.3\r\n"
    "Expires: 3600\r\n"
    "Content-Length: 0\r\n\r\n";

const std::string kResponse =
    "SIP/2.0 180 Ringing\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"
    "From: <sip:4420@192.0.2.1>;tag=1\r\nTo: <sip:1@203.0.113.10>;tag=2\r\n"
    "Call-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

// A shield whose limits never trip, so every decision runs the whole path.
struct Fixture {
  explicit Fixture(size_t maxSources = kDefaultMaxSources) {
    log::setLevel(log::Level::Warn);
    ShieldConfig c;
    // Loop time advances 1 ms per kStep decisions (see run()): the limits
    // are set so that no source, trusted or not, gets near them.
    c.trustedRate = 1e7;
    c.trustedBurst = 1e6;
    c.recentHits = 255;
    c.recentWindow = Millis(1);
    c.rate = 1e6;
    c.burst = 1e6;
    c.prefixRecentHits = 255;
    c.prefixRate = 1e6;
    c.prefixBurst = 1e6;
    c.maxSources = maxSources;
    shield = std::make_unique<Shield>(loop, clock, random, c, sink);
    shield->setTrusted(shield->buildTrusted({*net::Cidr::parse("203.0.113.10"),
                                             *net::Cidr::parse("203.0.113.64/26"),
                                             *net::Cidr::parse("2001:db8:1::/48")}));
  }
  void advance() {
    clock.advance(Micros(1000));
    loop.runOnce(Millis(0));
  }
  ManualClock clock;
  EventLoop loop{clock};
  SeededRandom random{1};
  NullSink sink;
  std::unique_ptr<Shield> shield;
};

// Decisions between two 1 ms steps of the manual clock.
constexpr uint64_t kStep = 1024;

// The benchmark loop: `flows` round robin, time moving on as it would.
template <typename Msg>
void run(benchmark::State& state, Fixture& fx, const std::vector<transport::Flow>& flows,
         const Msg& msg) {
  size_t i = 0;
  uint64_t n = 0;
  MonoTime now = fx.loop.now();
  for (auto _ : state) {
    benchmark::DoNotOptimize(fx.shield->inspect(flows[i], msg, now));
    if (++i == flows.size()) i = 0;
    if (++n % kStep == 0) {
      state.PauseTiming();
      fx.advance();
      now = fx.loop.now();
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
}

transport::Flow from(uint32_t v4) {
  transport::Flow f;
  f.remote = net::SockAddr(net::IpAddress::fromV4(v4), 5060);
  return f;
}

void BannedSource(benchmark::State& state) {
  Fixture fx;
  (void)fx.shield->suspend(net::IpAddress::fromV4(0xc6336407), BanReason::Manual, "bench");
  run(state, fx, {from(0xc6336407)}, kRegister);  // 198.51.100.7
  if (fx.shield->stats().dropped[static_cast<size_t>(ShieldReason::Banned)] == 0) {
    state.SkipWithError("not dropped as banned");
  }
}
BENCHMARK(BannedSource);

void TrustedSource(benchmark::State& state) {
  Fixture fx;
  run(state, fx, {from(0xcb00710a)}, kInvite);  // 203.0.113.10
  if (fx.shield->stats().trusted != fx.shield->stats().passed) state.SkipWithError("not passed");
}
BENCHMARK(TrustedSource);

void TrustedResponse(benchmark::State& state) {
  Fixture fx;
  run(state, fx, {from(0xcb00714a)}, kResponse);  // 203.0.113.74, inside the /26
}
BENCHMARK(TrustedResponse);

void untrusted(benchmark::State& state, uint32_t sources) {
  Fixture fx(std::max<size_t>(sources * 2, 1024));
  std::vector<transport::Flow> flows;
  flows.reserve(sources);
  // Spread over many /24s (multiplying by an odd constant scatters them).
  for (uint32_t i = 0; i < sources; ++i)
    flows.push_back(from(0x0a000000u + i * 2654435761u % (1u << 24)));
  run(state, fx, flows, kRegister);
  const ShieldStats& s = fx.shield->stats();
  if (s.passed != s.received) state.SkipWithError("something tripped: the path was cut short");
  state.counters["sources"] = static_cast<double>(s.sources);
}

void UntrustedFullCheck(benchmark::State& state) {
  untrusted(state, 4096);
}
BENCHMARK(UntrustedFullCheck);

void UntrustedMillionSources(benchmark::State& state) {
  untrusted(state, 1'000'000);
}
BENCHMARK(UntrustedMillionSources)->Iterations(5'000'000);

}  // namespace
}  // namespace tollgate::shield

BENCHMARK_MAIN();
