// A MessageSink that forwards to another one set later: a Transport needs
// its sink when it is built, and the TransactionLayer it delivers to needs
// the Transport to send, so the Transport is built with this sink and the
// layer becomes its target once it exists. filter() is not forwarded (the
// default keeps every message): put a filtering sink in front of it, not
// behind. Confined to its worker, like the Transport.
#pragma once

#include <string>

#include "transport/transport.h"

namespace tollgate::transport {

class ForwardingSink final : public MessageSink {
 public:
  void onMessage(const Flow& from, std::string&& bytes) override {
    if (target) target->onMessage(from, std::move(bytes));
  }
  void onConnectionClosed(ConnectionId id) override {
    if (target) target->onConnectionClosed(id);
  }
  MessageSink* target = nullptr;
};

}  // namespace tollgate::transport
