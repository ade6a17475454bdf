// SharedRetryCounter: the count of digest failures across every node of a
// cluster (implemented by cluster/shared_auth.h), beside the node's own
// AuthRetryLimiter, so a password guesser spreading its tries over several
// nodes gets at most auth.max_retry wrong answers in total. The request
// router asks it about each failure before it answers (the transaction
// stays open until the verdict: one pipelined exchange, never a blocking
// wait) and answers by the verdict. Confined to its worker.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "common/net.h"

namespace tollgate::auth {

class SharedRetryCounter {
 public:
  enum class Verdict : uint8_t {
    Local,          // no shared answer (store unreachable): the local verdict stands
    Counted,        // counted; below the limits
    Suspended,      // the pair or the source was already suspended (by any node)
    NewSuspension,  // this failure reached a limit: suspended everywhere now
  };
  virtual ~SharedRetryCounter() = default;
  // True when a verdict can be had (the shared store is reachable now).
  virtual bool available() const = 0;
  // One failure, already counted by the local limiter; `done` runs on the
  // worker with the cluster's verdict (Local when none came in time).
  // `username` is only read during the call.
  virtual void countFailure(std::string_view username, const net::IpAddress& source,
                            std::function<void(Verdict)> done) = 0;
  // A successful authentication clears the pair's shared failures too.
  virtual void onSuccess(std::string_view username, const net::IpAddress& source) = 0;
};

}  // namespace tollgate::auth
