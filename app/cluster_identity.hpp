#pragma once

#include <string>

namespace fa::app {

/// The cluster id to use: the configured one, else the one stored in the state
/// directory ($FA_STATE_DIR, default /var/lib/flow-aggregator), else a new UUID that is
/// stored there for the next start (DESIGN 8: generated once and stored). `where` says
/// where it came from, for the log.
std::string resolve_cluster_id(const std::string& configured, std::string& where);

} // namespace fa::app
