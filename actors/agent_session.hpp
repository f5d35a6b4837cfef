#pragma once

// One actor per exporter transport session (DESIGN 2): validates each message, keeps
// the session's templates and sequence numbers, and slices data sets into batches for
// its enricher without copying.

#include "actors/enrichment_options.hpp"
#include "actors/interfaces.hpp"
#include "actors/output_template_table.hpp"
#include "ipfix/record.hpp"
#include "ipfix/sequence_tracker.hpp"
#include "ipfix/template_store.hpp"
#include "monitoring/metrics.hpp"
#include "monitoring/rate_limited_log.hpp"

#include <functional>
#include <unordered_map>

namespace fa::actors {

struct agent_session_config {
  messages::session_info_ptr info;
  enricher_actor enricher;
  std::shared_ptr<output_template_table> table;
  enrichment_options enrichment;
  ipfix::template_store_config templates;
  /// Closes the transport connection (thread-safe); used when the stream cannot be
  /// trusted any more.
  std::function<void(std::string)> close_connection;
  /// Called once when the session ends (the supervisor's session count).
  std::function<void()> on_end;
  monitoring::metrics* metrics = nullptr;
  /// An output template id no data set of this session used for this long is given
  /// back (issue 16 defect 2); the next data set of its template takes one again.
  caf::timespan output_id_idle = std::chrono::minutes{10};
};

/// An input template's plan, and when a data set last used its output template.
struct plan_entry {
  messages::template_plan_ptr plan;
  caf::actor_clock::time_point last_used{};
};

struct agent_session_state {
  agent_session_state() = default;
  agent_session_config cfg;
  ipfix::template_store templates;
  ipfix::sequence_tracker sequences;
  std::unordered_map<std::uint64_t, plan_entry> plans; ///< (odid << 16) | id
  messages::session_status status;
  monitoring::session_metrics metrics;
  /// This exporter's series (by address; removed after its last session ends).
  monitoring::exporter_metrics exporter;
  /// Warnings about bad input, each kind at most once per 10 s (STYLE, errors).
  monitoring::log_rate_limiter malformed_log;
  monitoring::log_rate_limiter sequence_log;
  monitoring::log_rate_limiter unknown_template_log;
  monitoring::log_rate_limiter refusal_log; ///< templates refused by a limit or budget
  monitoring::log_rate_limiter no_id_log;   ///< data sets dropped: no output template id
  /// enrich_dropped_records_total{reason="template_ids_exhausted"}, resolved at start.
  prometheus::Counter* no_id_records = nullptr;
  /// Next sweep for output ids no data used within `cfg.output_id_idle`.
  caf::actor_clock::time_point next_id_sweep{};
  /// The transport's close reason, read when the actor ends (sessions_closed_total).
  std::shared_ptr<std::string> end_reason;
  ipfix::clock_type::time_point next_expiry{}; ///< UDP: next template expiry sweep
  static inline const char* name = "agent_session";
};

agent_session_actor::behavior_type
agent_session(agent_session_actor::stateful_pointer<agent_session_state> self,
              agent_session_config cfg);

} // namespace fa::actors
