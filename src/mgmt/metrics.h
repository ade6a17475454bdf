// Prometheus text exposition format 0.0.4 of a node's counters, served at
// /metrics (docs/metrics.md lists every family; docs/alerts.yml has example
// rules). Families are named tollgate_*, counters end in _total, every
// family has one HELP and one TYPE line, label values are escaped. Pure
// functions: thread-safe.
#pragma once

#include <string>

#include "mgmt/api_counters.h"
#include "mgmt/node_control.h"

namespace tollgate::mgmt {

struct MetricsInput {
  const NodeStats* node = nullptr;  // null when the worker did not answer
  const ApiCounters* api = nullptr;
  size_t activeLocks = 0;
  size_t traceSessions = 0;
  size_t liveStreams = 0;  // console live feeds open
};

std::string renderMetrics(const MetricsInput& in);

// Escapes a label value: backslash, double quote and newline. Not JSON
// escaping (common/json_string.h): the Prometheus text format defines only
// these three escapes, and a \uXXXX there would be read literally.
std::string escapeLabelValue(std::string_view v);

}  // namespace tollgate::mgmt
