// More than one PacketTap on one transport, which holds a single pointer:
// the HEP capture (for the node's life) and the SIP trace (while trace
// sessions are open) each own a slot, and the transport holds the fan-out
// only while two are set, so a node with one tap pays no extra call and a
// node with none pays the transport's one branch. Confined to its worker.
#pragma once

#include <array>
#include <cstddef>

#include "transport/transport.h"

namespace tollgate::transport {

class TapFanout final : public PacketTap {
 public:
  enum Slot : size_t { kCapture = 0, kTrace = 1, kSlots = 2 };

  // Sets one slot; returns what the transport should hold now (null, the
  // one tap set, or this fan-out): `transport.setTap(fanout.set(...))`.
  PacketTap* set(Slot slot, PacketTap* tap) {
    taps_[slot] = tap;
    PacketTap* only = nullptr;
    size_t n = 0;
    for (PacketTap* t : taps_) {
      if (t != nullptr) {
        only = t;
        ++n;
      }
    }
    return n > 1 ? this : only;
  }

  void onPacket(TapDirection dir, const Flow& flow, const net::SockAddr& local,
                std::string_view bytes) override {
    for (PacketTap* t : taps_) {
      if (t != nullptr) t->onPacket(dir, flow, local, bytes);
    }
  }

 private:
  std::array<PacketTap*, kSlots> taps_{};
};

}  // namespace tollgate::transport
