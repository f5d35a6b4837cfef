#pragma once

// enricher[k] (DESIGN 2): copies each record and appends the configured fields.
// Sessions are pinned to one enricher by hash, so a session's records stay in order.
// Labels come from the current Pod snapshot pushed by the label cache; no message is
// sent per record.

#include "actors/enrichment_options.hpp"
#include "actors/interfaces.hpp"
#include "monitoring/metrics.hpp"

#include <vector>

namespace fa::actors {

struct enricher_config {
  std::vector<destination_actor> destinations;
  enrichment_options enrichment;
  /// Largest data set body an output set may have: the smallest destination message
  /// size minus the message and set headers, so every set fits a message whole.
  std::size_t max_set_body = 65535 - 20;
  monitoring::metrics* metrics = nullptr;
};

struct enricher_state {
  enricher_state() = default;
  enricher_config cfg;
  labels::pod_snapshot_ptr pods;
  messages::enricher_status status;
  std::vector<ipfix::field_slice> fields; ///< variable-length values of one record (scratch)
  std::vector<std::uint8_t> rewritten;    ///< a record with filled names (scratch)
  prometheus::Counter* dropped_addresses = nullptr;
  prometheus::Counter* dropped_start_time = nullptr;
  prometheus::Counter* dropped_too_large = nullptr;
  static inline const char* name = "enricher";
};

enricher_actor::behavior_type enricher(enricher_actor::stateful_pointer<enricher_state> self,
                                       enricher_config cfg);

/// flowDirection by Antrea's rules (antrea-proxy-semantics.md 2), decided from the
/// names as received, before any are filled in.
std::uint8_t flow_direction(std::uint8_t flow_type, bool source_pod_named,
                            bool destination_pod_named);

} // namespace fa::actors
