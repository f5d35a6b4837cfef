#pragma once

// Every typed actor interface of the service, one line of protocol per handler
// (DESIGN 2). Messages and atoms are declared in messages/type_ids.hpp.

#include "messages/type_ids.hpp"

#include <caf/all.hpp>

namespace fa::actors {

using fa::atoms::connected_atom;
using fa::atoms::connected_atom_v;
using fa::atoms::disconnected_atom;
using fa::atoms::disconnected_atom_v;
using fa::atoms::drain_atom;
using fa::atoms::drain_atom_v;
using fa::atoms::expire_atom;
using fa::atoms::reconnect_atom;
using fa::atoms::reconnect_atom_v;
using fa::atoms::shard_atom;
using fa::atoms::shard_atom_v;
using fa::atoms::stats_atom;
using fa::atoms::stats_atom_v;
using fa::atoms::written_atom;
using fa::atoms::written_atom_v;

/// A destination: exporter_session (IPFIX over TCP) or jsonl_sink. Enrichers see only
/// this; the exporter's connection callbacks live in its own extended interface.
using destination_actor = caf::typed_actor<
    // Records to send; queued in bytes, dropped and counted when full with on_full = "drop".
    caf::reacts_to<messages::enriched_batch>,
    // Replies true once everything queued before it was written.
    caf::replies_to<drain_atom>::with<bool>,
    // Inspection.
    caf::replies_to<caf::get_atom>::with<messages::destination_status>,
    // Inspection: messages handled, mailbox size (actors/actor_stats.hpp, every actor).
    caf::replies_to<caf::get_atom, stats_atom>::with<messages::actor_stats>>;

/// aggregator[k] (mode = "aggregate", DESIGN 9): a shard of the flow table. The enrichers
/// see it as a destination; it exports aggregated flows to the real destinations.
using aggregator_actor = destination_actor::extend<
    // Config reload: new destinations, fanout, timeouts, uncorrelated policy; no flow is lost.
    caf::reacts_to<messages::aggregator_reconfig>,
    // Internal: the next step of a poll that had more due than one step handles.
    caf::reacts_to<caf::flush_atom>,
    // Periodic (actor clock): exports what is due, expires idle flows.
    caf::reacts_to<caf::tick_atom>,
    // Inspection: the shard's flow table and counters.
    caf::replies_to<caf::get_atom, shard_atom>::with<messages::aggregator_status>,
    // Inspection: the flows matching a query, at most its limit.
    caf::replies_to<caf::get_atom, messages::flow_query>::with<messages::flow_page>>;

/// enricher[k]: appends fields to the records of the sessions pinned to it.
using enricher_actor = caf::typed_actor<
    // Records of one session, in order; answered with nothing, forwarded to destinations.
    caf::reacts_to<messages::data_batch>,
    // A new Pod index snapshot from the label cache.
    caf::reacts_to<messages::label_snapshot>,
    // Config reload: new destinations, fanout, enrichment options; later batches use them.
    caf::reacts_to<messages::enricher_reconfig>,
    // Inspection.
    caf::replies_to<caf::get_atom>::with<messages::enricher_status>,
    // Inspection: messages handled, mailbox size (actors/actor_stats.hpp, every actor).
    caf::replies_to<caf::get_atom, stats_atom>::with<messages::actor_stats>>;

/// agent_session (one per transport session): validates, keeps templates and sequence
/// numbers, slices data sets into batches.
using agent_session_actor = caf::typed_actor<
    // Whole IPFIX messages read from the connection.
    caf::reacts_to<messages::frames>,
    // The connection ended (reason); the session withdraws its templates and quits.
    caf::reacts_to<caf::close_atom, std::string>,
    // Config reload: new [enrichment] options; every template is planned again.
    caf::reacts_to<messages::enrichment_update>,
    // Inspection.
    caf::replies_to<caf::get_atom>::with<messages::session_status>,
    // Inspection: messages handled, mailbox size (actors/actor_stats.hpp, every actor).
    caf::replies_to<caf::get_atom, stats_atom>::with<messages::actor_stats>>;

/// label_cache: owns the Pod index and pushes snapshots to enrichers.
using label_cache_actor = caf::typed_actor<
    // Adds an enricher to the subscribers; it gets the current snapshot at once.
    caf::reacts_to<caf::subscribe_atom, enricher_actor>,
    // From the Kubernetes source thread: a LIST page or a run of WATCH events.
    caf::reacts_to<messages::pod_updates>,
    // Debounced: publish the snapshot once after a run of Pod events.
    caf::reacts_to<caf::publish_atom>,
    // Periodic: re-read a changed source file, expire deleted Pods past retention.
    caf::reacts_to<caf::tick_atom>,
    // Inspection: number of indexed IPs.
    caf::replies_to<caf::get_atom>::with<std::uint64_t>,
    // Inspection: status, readiness, and the Pods that held the given IP ("" = no lookup).
    caf::replies_to<caf::get_atom, std::string>::with<messages::label_status>,
    // Inspection: messages handled, mailbox size (actors/actor_stats.hpp, every actor).
    caf::replies_to<caf::get_atom, stats_atom>::with<messages::actor_stats>>;

/// template_registry: owns the output template table (ids shared across sessions).
using template_registry_actor = caf::typed_actor<
    // Inspection: number of live output templates.
    caf::replies_to<caf::get_atom>::with<std::uint64_t>,
    // Inspection: messages handled, mailbox size (actors/actor_stats.hpp, every actor).
    caf::replies_to<caf::get_atom, stats_atom>::with<messages::actor_stats>>;

} // namespace fa::actors
