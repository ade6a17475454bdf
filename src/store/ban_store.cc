// Helpers over the BanStore interface (ban_store.h), for any implementation.
#include "store/ban_store.h"

namespace tollgate::store {

Result<size_t, StoreError> deleteBansWithReason(BanStore& st, std::string_view reason,
                                                std::string_view address) {
  std::vector<std::string> victims;
  if (!address.empty()) {
    auto row = st.getBan(address);
    if (!row) return Err{row.error()};
    if (*row && (*row)->reason == reason) victims.emplace_back(address);
  } else {
    BanCursor cursor;
    for (;;) {
      auto page = st.bansChangedSince(cursor, kMaxBanPage);
      if (!page) return Err{page.error()};
      if (page->empty()) break;
      cursor = {page->back().seq, page->back().address};
      for (const BanRow& r : *page) {
        if (!r.deleted && r.reason == reason) victims.push_back(r.address);
      }
    }
  }
  size_t n = 0;
  for (const std::string& a : victims) {
    auto r = st.deleteBan(a);
    if (!r) return Err{r.error()};
    if (*r) ++n;
  }
  return n;
}

}  // namespace tollgate::store
