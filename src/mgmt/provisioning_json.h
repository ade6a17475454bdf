// Internal to the management API: the JSON form of the provisioning fields
// described in admission/provisioning_fields.h, both ways, and their OpenAPI
// schema. api_provisioning.cc writes and reads each resource's table fields
// with these, api_routes.cc describes them; a field added to a table appears
// in all three without an edit here. Plain functions: thread-safe.
#pragma once

#include <climits>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "admission/provisioning_fields.h"
#include "mgmt/api_internal.h"

namespace tollgate::mgmt {

// Adds the table fields of `r` to `j`, in table order.
template <typename Record>
void writeProvisioningFields(Json& j, const Record& r) {
  for (const auto& f : admission::provisioningFields<Record>()) {
    std::visit([&](auto* v) { j[std::string(f.key)] = *v; }, f.at(r));
  }
}

// Reads the table fields present in `f`'s body onto `r`. With `full` (create,
// PUT) the required ones must be there. Integers and numbers are taken in
// 0..INT_MAX and 0..1e9: far above the validated bounds, so that
// validateProvisioning() names the precise limit.
template <typename Record>
void readProvisioningFields(JsonFields& in, Record& r, bool full) {
  constexpr double kMaxNumber = 1e9;
  constexpr size_t kMaxLength = 1024;  // a string field that names no bound of its own
  for (const auto& f : admission::provisioningFields<Record>()) {
    const std::string key(f.key);
    const bool required = full && f.required;
    std::visit(
        [&](auto* v) {
          using T = std::remove_pointer_t<decltype(v)>;
          if constexpr (std::is_same_v<T, int>) {
            if (auto x = in.integer(key.c_str(), required, 0, INT_MAX)) *v = static_cast<int>(*x);
          } else if constexpr (std::is_same_v<T, double>) {
            if (auto x = in.number(key.c_str(), required, 0, kMaxNumber)) *v = *x;
          } else if constexpr (std::is_same_v<T, bool>) {
            if (auto x = in.boolean(key.c_str(), required)) *v = *x;
          } else if constexpr (std::is_same_v<T, std::string>) {
            const size_t length = f.maxLength ? f.maxLength : kMaxLength;
            if (auto x = in.string(key.c_str(), required, length)) *v = std::move(*x);
          } else {
            const size_t items = f.apiMaxItems ? f.apiMaxItems : f.maxItems;
            const size_t length = f.maxLength ? f.maxLength : kMaxLength;
            if (auto x = in.strings(key.c_str(), required, items, length)) *v = std::move(*x);
          }
        },
        f.at(r));
  }
}

// The OpenAPI properties of the table fields, added to `properties`; the
// required ones appended to `required`.
template <typename Record>
void describeProvisioningFields(Json& properties, Json& required) {
  const Record probe{};
  for (const auto& f : admission::provisioningFields<Record>()) {
    Json p = std::visit(
        [](auto* v) -> Json {
          using T = std::remove_pointer_t<decltype(v)>;
          if constexpr (std::is_same_v<T, int>) {
            return Json{{"type", "integer"}};
          } else if constexpr (std::is_same_v<T, double>) {
            return Json{{"type", "number"}};
          } else if constexpr (std::is_same_v<T, bool>) {
            return Json{{"type", "boolean"}};
          } else if constexpr (std::is_same_v<T, std::string>) {
            return Json{{"type", "string"}};
          } else {
            return Json{{"type", "array"}, {"items", {{"type", "string"}}}};
          }
        },
        f.at(probe));
    if (!f.description.empty()) p["description"] = std::string(f.description);
    properties[std::string(f.key)] = std::move(p);
    if (f.required) required.push_back(std::string(f.key));
  }
}

}  // namespace tollgate::mgmt
