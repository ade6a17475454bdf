// The body of POST /api/v1/provisioning/import (docs/api.md), as `tollgate
// import` sends it when the node runs: the provisioning set read from a file,
// each entry in the JSON form of its resource (the keys of the provisioning
// file), secrets included (a password gateway's password, which the node
// stores as HA1 digests for its sip.domain; a carrier's auth_password). The
// node reads it with the same readers (api_provisioning.cc, where this is
// defined), so the JSON form of provisioning is written and read in one file.
// Plain functions: thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "admission/provisioning.h"

namespace tollgate::mgmt {

// `source` names the set in the audit log (the file's path); prune: the
// stored entries the set does not name are deleted.
std::string provisioningImportBody(const admission::Provisioning& p, bool prune,
                                   std::string_view source);

}  // namespace tollgate::mgmt
