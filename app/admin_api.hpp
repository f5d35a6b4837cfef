#pragma once

// The admin API's paths (issue 5): Prometheus text at /metrics, the probes, and JSON
// views of the supervisor's actors under /api/v1.

#include "app/admin_server.hpp"

#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace fa::app {

class supervisor;

/// Readiness rule (README "Admin API"): every listener is bound, the label cache has its
/// first full index when a label source is configured, and at least one destination is
/// connected (a jsonl destination always is).
struct readiness {
  bool listeners = false;
  bool labels = false;
  bool destination = false;
  bool ready() const { return listeners && labels && destination; }
};

readiness check_readiness(supervisor& s);

std::map<std::string, http_handler> admin_routes(supervisor& s);

/// The admin front's early closes (admin_server_options::on_closed): counted in
/// flow_aggregator_admin_connections_closed_total{reason} and warned about, rate-limited.
std::function<void(std::string_view reason)> admin_connection_events(supervisor& s);

} // namespace fa::app
