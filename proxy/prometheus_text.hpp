// proxy/prometheus_text.hpp — a snapshot in the Prometheus text format.
//
// Text exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4),
// names after Prometheus' conventions: `courier_` prefix, base units
// (seconds, bytes), `_total` on counters, a HELP and a TYPE line per family.
// Label values are escaped as the format says (\\, \", \n).
#pragma once

#include "metrics_snapshot.hpp"

#include <string>
#include <string_view>

namespace courier::proxy {

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// `now_wall_ms` (Unix ms) dates courier_snapshot_age_seconds: how stale the
// figures are, which grows when the loop is stuck.
std::string prometheus_text(const MetricsSnapshot& s, std::string_view version, uint64_t now_wall_ms);

// A label value with \, " and newline escaped (exposed for the tests).
std::string escape_label_value(std::string_view value);

}  // namespace courier::proxy
