// A request we sent, sent again as a new transaction (RFC 3261 §8.1.3.5:
// a UAC that can satisfy what a 4xx asked for retries the request): a new
// branch in the top Via, a new CSeq, the same Call-ID, tags, Route set and
// body. What it asked for here is credentials (§22.2, auth/digest_client.h):
// the Authorization / Proxy-Authorization of the last request is replaced
// by the answer to this challenge. Pure function: thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "txn/transaction_layer.h"

namespace tollgate::txn {

// `sent` with top Via branch `branch`, CSeq `cseq` (same method) and
// `header: value` as its only Authorization / Proxy-Authorization field.
// Its bytes are empty when `sent.bytes` does not parse (they are ours, so
// that is never expected).
OutgoingRequest resubmission(const OutgoingRequest& sent, std::string branch, uint32_t cseq,
                             std::string_view header, std::string_view value);

// `via` with its branch parameter replaced by `branch`.
std::string withBranch(std::string_view via, std::string_view branch);

}  // namespace tollgate::txn
