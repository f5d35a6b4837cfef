#pragma once

// The one CAF type-ID block of the project (STYLE: nothing else declares type IDs).
// Message structs that carry shared pointers are local-only by design (they never
// cross a process), so they are allowed as unsafe message types instead of being
// serialisable.

#include "labels/pod_snapshot.hpp"
#include "messages/actor_stats.hpp"
#include "messages/aggregator.hpp"
#include "messages/batches.hpp"
#include "messages/label_status.hpp"
#include "messages/status.hpp"

#include <caf/all.hpp>

namespace fa::labels {
struct pod_update;
} // namespace fa::labels

namespace fa::enrich {
struct enrichment_options;
} // namespace fa::enrich

namespace fa::actors {
struct aggregator_config;
struct enricher_config;
} // namespace fa::actors

namespace fa::messages {

/// label_cache -> enricher: the current Pod index.
struct label_snapshot {
  labels::pod_snapshot_ptr pods;
};

/// Kubernetes source thread -> label_cache: one LIST page or a run of WATCH events
/// (labels/pod_watcher.hpp), moved, never copied.
struct pod_updates {
  std::shared_ptr<labels::pod_update> update;
};

/// supervisor -> enricher on a config reload: the new destinations (and their names
/// for fanout hash), fanout mode, enrichment options and set size limit.
struct enricher_reconfig {
  std::shared_ptr<const actors::enricher_config> cfg;
};

/// supervisor -> agent_session on a config reload: the new [enrichment] options; the
/// session plans its templates again, so its next records use the new output layout.
struct enrichment_update {
  std::shared_ptr<const enrich::enrichment_options> options;
};

/// supervisor -> aggregator on a config reload: new destinations, fanout, timeouts and
/// uncorrelated policy; no flow is lost.
struct aggregator_reconfig {
  std::shared_ptr<const actors::aggregator_config> cfg;
};

} // namespace fa::messages

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(fa::messages::frames)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(fa::messages::data_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(fa::messages::enriched_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(fa::messages::label_snapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(fa::messages::pod_updates)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(fa::messages::enricher_reconfig)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(fa::messages::enrichment_update)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(fa::messages::aggregator_reconfig)

CAF_BEGIN_TYPE_ID_BLOCK(fa, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(fa, (fa::messages::frames))
CAF_ADD_TYPE_ID(fa, (fa::messages::data_batch))
CAF_ADD_TYPE_ID(fa, (fa::messages::enriched_batch))
CAF_ADD_TYPE_ID(fa, (fa::messages::label_snapshot))
CAF_ADD_TYPE_ID(fa, (fa::messages::session_status))
CAF_ADD_TYPE_ID(fa, (fa::messages::destination_status))
CAF_ADD_TYPE_ID(fa, (fa::messages::enricher_status))
CAF_ADD_TYPE_ID(fa, (std::vector<fa::messages::session_status>))
CAF_ADD_TYPE_ID(fa, (fa::messages::pod_updates))
CAF_ADD_TYPE_ID(fa, (fa::messages::label_status))
CAF_ADD_TYPE_ID(fa, (fa::messages::actor_stats))
CAF_ADD_TYPE_ID(fa, (fa::messages::enricher_reconfig))
CAF_ADD_TYPE_ID(fa, (fa::messages::enrichment_update))
CAF_ADD_TYPE_ID(fa, (fa::messages::aggregator_reconfig))
CAF_ADD_TYPE_ID(fa, (fa::messages::aggregator_status))
CAF_ADD_TYPE_ID(fa, (fa::messages::flow_query))
CAF_ADD_TYPE_ID(fa, (fa::messages::flow_page))

// Atom text is the identity and at most 10 characters (STYLE: CAF pitfalls).
CAF_ADD_ATOM(fa, fa::atoms, connected_atom, "connected")
CAF_ADD_ATOM(fa, fa::atoms, written_atom, "written")
CAF_ADD_ATOM(fa, fa::atoms, disconnected_atom, "disconn")
CAF_ADD_ATOM(fa, fa::atoms, reconnect_atom, "reconnect")
CAF_ADD_ATOM(fa, fa::atoms, drain_atom, "drain")
CAF_ADD_ATOM(fa, fa::atoms, expire_atom, "expire")
CAF_ADD_ATOM(fa, fa::atoms, stats_atom, "stats")
CAF_ADD_ATOM(fa, fa::atoms, shard_atom, "shard")

CAF_END_TYPE_ID_BLOCK(fa)
