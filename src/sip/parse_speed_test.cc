// Parse time of a typical INVITE, printed for the record (docs/sip-parser.md
// quotes the optimised-build figure). Only a generous bound is asserted, so
// the test catches an accidental quadratic path, not a slow CI machine.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "sip/framing.h"
#include "sip/message.h"
#include "sip/serialize.h"
#include "sip/test_messages.h"

namespace tollgate::sip {
namespace {

template <typename F>
double nanosPerCall(int iterations, F&& f) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) f();
  auto elapsed = std::chrono::steady_clock::now() - start;
  return std::chrono::duration<double, std::nano>(elapsed).count() / iterations;
}

TEST(ParseSpeed, TypicalInviteParsesQuickly) {
  const std::string invite = testing::typicalInvite();
  constexpr int kIterations = 20000;
  size_t sink = 0;
  double parseNs = nanosPerCall(kIterations, [&] {
    auto r = Message::parse(std::string(invite));  // includes the copy a receive path makes
    sink += r ? (*r)->headers().size() : 0;
  });
  auto parsed = Message::parse(std::string(invite));
  ASSERT_TRUE(parsed.ok());
  double serializeNs =
      nanosPerCall(kIterations, [&] { sink += serialize(**parsed, Edits{}).size(); });
  double frameNs = nanosPerCall(kIterations, [&] { sink += nextFrame(invite).length; });
  EXPECT_GT(sink, 0u);
  std::printf(
      "[ perf     ] typical INVITE (%zu bytes, %zu fields): parse %.0f ns, serialize %.0f ns, "
      "nextFrame %.0f ns\n",
      invite.size(), (*parsed)->headers().size(), parseNs, serializeNs, frameNs);
  RecordProperty("parse_ns", static_cast<int>(parseNs));
  // Even an unoptimised sanitizer build stays far below this.
  EXPECT_LT(parseNs, 200000.0);
}

}  // namespace
}  // namespace tollgate::sip
