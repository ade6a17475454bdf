// OccupancyObserver: how the layers that hold state on behalf of a remote
// source (server transactions in txn, dialogs in call) report it opening and
// closing, so that the shield can limit how much one source, or one
// prefix, holds at once (the `connlimit` of an iptables ruleset, applied to
// transactions and dialogs as well). It lives here so txn and call need not
// know the shield; the node wires them together. Every opened() is matched
// by exactly one closed() with the same address. Called on the worker that
// owns the reporting layer; implementations are confined to that worker.
#pragma once

#include <cstdint>

#include "common/net.h"

namespace tollgate {

enum class OccupancyKind : uint8_t { Transaction, Dialog };

class OccupancyObserver {
 public:
  virtual ~OccupancyObserver() = default;
  virtual void opened(OccupancyKind kind, const net::IpAddress& source) = 0;
  virtual void closed(OccupancyKind kind, const net::IpAddress& source) = 0;
};

}  // namespace tollgate
