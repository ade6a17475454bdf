// RFC 7339 Via parameters. See overload_control.h.
#include "sip/overload_control.h"

#include "common/ascii.h"
#include "sip/message.h"

namespace tollgate::sip {

std::string_view firstViaParm(std::string_view viaValue) {
  bool quoted = false;
  for (size_t i = 0; i < viaValue.size(); ++i) {
    const char c = viaValue[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      return viaValue.substr(0, i);
    }
  }
  return viaValue;
}

bool viaSupportsOc(std::string_view viaParm) {
  const size_t semi = viaParm.find(';');
  if (semi == std::string_view::npos) return false;
  const std::string_view params = viaParm.substr(semi);
  if (!findParam(params, "oc").has_value()) return false;
  const auto algo = findParam(params, "oc-algo");
  if (!algo.has_value() || algo->empty()) return true;
  // oc-algo = DQUOTE algo-list *(COMMA algo-list) DQUOTE
  std::string_view list = *algo;
  if (list.size() >= 2 && list.front() == '"' && list.back() == '"') {
    list = list.substr(1, list.size() - 2);
  }
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view item = list.substr(start, comma - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (ascii::iequals(item, "loss")) return true;
    start = comma + 1;
  }
  return false;
}

std::string withTopViaParams(std::string_view viaValue, std::string_view params) {
  const std::string_view first = firstViaParm(viaValue);
  std::string out;
  out.reserve(viaValue.size() + params.size());
  // The client's own oc parameters (a bare `oc`, its oc-algo list) give way
  // to ours (RFC 7339 §5.2: the server sets the value of `oc` and names the
  // one algorithm it chose).
  size_t semi = first.find(';');
  out.append(first.substr(0, semi));
  while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
  while (semi != std::string_view::npos) {
    const size_t next = paramEnd(first, semi + 1);
    std::string_view param = first.substr(semi + 1, next - semi - 1);
    std::string_view name = param.substr(0, param.find('='));
    while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.remove_prefix(1);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    const bool ours = ascii::iequals(name, "oc") || ascii::iequals(name, "oc-algo") ||
                      ascii::iequals(name, "oc-validity") || ascii::iequals(name, "oc-seq");
    if (!ours) {
      out += ';';
      std::string_view kept = param;
      while (!kept.empty() && (kept.back() == ' ' || kept.back() == '\t')) kept.remove_suffix(1);
      out.append(kept);
    }
    semi = next < first.size() ? next : std::string_view::npos;
  }
  out.append(params);
  out.append(viaValue.substr(first.size()));
  return out;
}

}  // namespace tollgate::sip
