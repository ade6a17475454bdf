// The provisioning fields described once. Each record kind (mapping gateway,
// routing gateway, account, fraud rule) has a table with one descriptor per
// field: its key (the same name in a provisioning file, in the API's JSON and
// as the SQL column), its one-line description (OpenAPI, docs), where the
// value lives in the record (its C++ type is the field's kind: integer,
// number, bool, string, string list), its valid range, and the bounds a
// reader applies before the validator judges. Its default is the struct's
// initializer (provisioning.h).
//
// Every consumer iterates the table instead of naming fields: the
// provisioning file reader (app/provisioning_file.cc), the API's JSON reader
// and writer and the OpenAPI schema (mgmt/provisioning_json.h), `tollgate
// gateway list --json` (app/cli.cc), range checks in validateProvisioning()
// and the SQLite policy tables (store/sqlite_policy_tables.cc). Adding a
// field touches three files: the struct, the table (provisioning_fields.cc)
// and a store migration adding the column ("Adding a provisioning field" in
// src/admission/README.md).
//
// The tables hold the call policy of gateways (mapping_gateway_policy,
// routing_gateway_policy) and every field but the name of accounts and fraud
// rules. A gateway's identity and credentials (name, auth, addresses,
// username, password and HA1s, challenge, digest_algorithms, tls_names;
// address, transport, prefixes, auth_password ...) are read and written by
// hand: each has its own parsing, hashing or secrecy rule and child tables.
//
// Protocol-free: no TOML, JSON or SQL here. The tables are constant:
// thread-safe.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "admission/provisioning.h"

namespace tollgate::admission {

// Where one field's value lives in a record; the alternative is its kind.
using FieldRef = std::variant<int*, double*, bool*, std::string*, std::vector<std::string>*>;

template <typename Record>
struct ProvisioningField {
  std::string_view key;          // file key, JSON key, SQL column (unless `column`)
  std::string_view description;  // one line, for OpenAPI and the docs
  FieldRef (*ref)(Record&);      // the member of a record
  // Integer and number fields: the valid range checked by
  // validateProvisioning(), "must be min..max[ unit]". max == 0: no range.
  double min = 0;
  double max = 0;
  std::string_view unit;
  // A value a test or a worked example can use (list elements separated by
  // commas); integers, numbers and bools are derived from range and default.
  std::string_view example;
  // Lists: elements a provisioning file may hold (the reader's bound) and,
  // when different, elements an API request may hold (above the validated
  // bound where the validator words the error). Strings and list elements:
  // the longest the API reader takes.
  size_t maxItems = 0;
  size_t apiMaxItems = 0;
  size_t maxLength = 0;
  bool required = false;    // in a file entry and a full API body (create, PUT)
  bool emptyItem = false;   // lists: "" is an element (a prefix matching every number)
  std::string_view column;  // SQL column when the key cannot be one ("" = key)

  std::string_view sqlColumn() const { return column.empty() ? key : column; }
  FieldRef at(Record& r) const { return ref(r); }
  // Readers only read through this.
  FieldRef at(const Record& r) const { return ref(const_cast<Record&>(r)); }
};

// The table of a record kind, in the order of the JSON forms.
template <typename Record>
std::span<const ProvisioningField<Record>> provisioningFields();
template <>
std::span<const ProvisioningField<MappingGateway>> provisioningFields<MappingGateway>();
template <>
std::span<const ProvisioningField<RoutingGateway>> provisioningFields<RoutingGateway>();
template <>
std::span<const ProvisioningField<Account>> provisioningFields<Account>();
template <>
std::span<const ProvisioningField<FraudRule>> provisioningFields<FraudRule>();

// "must be 0..604800 seconds": the range message of an integer or number field.
template <typename Record>
std::string rangeMessage(const ProvisioningField<Record>& f);

// True when the fields of the table hold the same values in a and b.
template <typename Record>
bool sameFields(const Record& a, const Record& b);

}  // namespace tollgate::admission
