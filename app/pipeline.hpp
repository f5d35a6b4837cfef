#pragma once

// The data path of the configured mode (DESIGN 2 and 9, app/): the strong handles of
// the destinations, the aggregator shards (mode = "aggregate"), the template registry,
// the label cache and the enrichers; their spawn from the config, their reconfiguration
// on reload, and their drain on shutdown. The supervisor drives it; the sessions reach
// it through the enrichers the session registry pins them to.
//
// The destinations and the label cache change on reload (the signal thread) while the
// admin thread inspects them: one mutex guards them. Everything else is set by `start`
// and never changes until `forget_all`.

#include "actors/aggregator.hpp"
#include "actors/enricher.hpp"
#include "actors/interfaces.hpp"
#include "actors/output_template_table.hpp"
#include "config/config.hpp"
#include "monitoring/metrics.hpp"

#include <asio/io_context.hpp>
#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace fa::app {

class pipeline {
 public:
  /// `output_budget`: what the aggregators' exports are charged to (collector.receive_budget).
  pipeline(caf::actor_system& sys, asio::io_context& io, monitoring::metrics& metrics,
           messages::byte_budget_ptr output_budget);
  pipeline(const pipeline&) = delete;
  pipeline& operator=(const pipeline&) = delete;

  /// Spawns the data path for `cfg`: the destinations, the aggregator shards in
  /// aggregate mode, the template registry, the label cache and the enrichers
  /// (subscribed to it). Returns an error text when something cannot start.
  std::optional<std::string> start(const config::config& cfg);

  // -- set by start, then fixed ------------------------------------------------------

  const std::vector<actors::enricher_actor>& enrichers() const { return enrichers_; }
  /// mode = "aggregate": the flow table shards (the enrichers' destinations); empty in
  /// proxy mode.
  const std::vector<actors::aggregator_actor>& aggregators() const { return aggregators_; }
  const std::shared_ptr<actors::output_template_table>& table() const { return table_; }
  /// The enrichment options `start` derived from [enrichment] and cluster_id.
  const actors::enrichment_options& enrichment() const { return enrichment_; }

  // -- changed by reload ---------------------------------------------------------------

  std::vector<actors::destination_actor> destinations() const;
  actors::label_cache_actor labels() const;

  /// Every actor of the data path with the name the inspection views give it, in the
  /// order they list them.
  struct named_actor {
    caf::actor handle;
    std::string name; ///< "enricher-0", "destination:main"
    const char* role; ///< registry, label_cache, enricher, aggregator, destination
  };
  std::vector<named_actor> named_actors() const;

  // -- reload: a transaction the supervisor drives (app/pipeline_reload.cpp) ----------

  /// What a reload changes in the pipeline.
  struct change {
    std::vector<actors::destination_actor> handles; ///< the new list, in target order
    std::vector<std::string> names;                 ///< their names
    std::vector<actors::destination_actor> spawned; ///< new or changed
    /// Removed or replaced, with their names.
    std::vector<std::pair<actors::destination_actor, std::string>> retired;
    bool labels_changed = false;
    actors::label_cache_actor new_labels; ///< for a changed [labels] or [kubernetes]
    actors::label_cache_actor old_labels; ///< the one it replaces (set by `commit`)
    /// The enrichers' setup for the target: its `enrichment` is the sessions' new options.
    actors::enricher_config routes;
  };

  /// Step 1: what can fail comes first, so that a failure changes nothing: spawns the
  /// destinations that are new or changed (a changed one is a new one under the same
  /// name: remove + add) and a label cache for a changed source. On an error every
  /// actor it spawned is stopped.
  std::variant<change, std::string> prepare(const config::config& running,
                                            const config::config& target);
  /// Step 2: the enrichers (and the shards) switch to the new destinations, fanout,
  /// options and timeouts; returns once each has confirmed, so no batch goes to a
  /// retired destination any more.
  void reroute(change& c, const config::config& running, const config::config& target);
  /// Step 3: the new destinations and label cache become the ones inspected.
  void commit(change& c);
  /// Step 5: the retired destinations drain like on shutdown, within
  /// runtime.shutdown_timeout.
  void retire(const change& c, const config::config& target);
  /// Step 6: a changed label source: the old cache ends first, so that any snapshot it
  /// sent is ahead of the new cache's in every enricher's mailbox; the new one then
  /// sends its current snapshot to each enricher (empty until it has read its source:
  /// readiness follows the new source).
  void switch_labels(const change& c);

  // -- shutdown --------------------------------------------------------------------

  /// After the sessions: the enrichers forward what they hold, the shards export every
  /// flow, the destinations drain, all within `deadline`. Returns the octets still
  /// queued at the destinations (0 = clean).
  std::uint64_t drain(caf::scoped_actor& self, std::chrono::milliseconds drain_timeout,
                      std::chrono::steady_clock::time_point deadline);
  /// Stops every actor of the pipeline ...
  void stop_all(caf::scoped_actor& self);
  /// ... and drops the handles once nothing inspects them any more.
  void forget_all();

 private:
  std::optional<std::string> start_destinations(const config::config& cfg);
  /// A label cache for `cfg`'s [labels] and [kubernetes] (not yet subscribed to).
  std::variant<actors::label_cache_actor, std::string> spawn_label_cache(const config::config& cfg);
  /// What the enrichers need from `cfg`: its destinations (`handles`, in config order),
  /// fanout, enrichment options and set size limit.
  actors::enricher_config enricher_setup(const config::config& cfg,
                                         const std::vector<actors::destination_actor>& handles);
  /// Drains a destination a reload removed, within `timeout`; counts and returns the
  /// records it could not send, then stops it.
  std::uint64_t retire_destination(const actors::destination_actor& d, const std::string& name,
                                   std::chrono::milliseconds timeout);

  // mode = "aggregate" (app/pipeline_aggregate.cpp).
  /// The shards' config: the destinations and fanout of `routes` (an enricher setup),
  /// the [aggregate] timeouts and policy, each shard's share of max_flows.
  actors::aggregator_config aggregator_setup(const config::config& cfg,
                                             const actors::enricher_config& routes);
  /// Spawns the shards for `ec`'s destinations, then points `ec` at the shards.
  void start_aggregators(const config::config& cfg, actors::enricher_config& ec);
  /// Reload: the shards take `target`'s routes (from `ec`) and timeouts, confirmed; then
  /// `ec` is pointed at the shards.
  void reconfigure_aggregators(const config::config& target, actors::enricher_config& ec);
  /// Points an enricher setup at the shards instead of the destinations.
  void route_to_shards(actors::enricher_config& ec) const;
  /// Shutdown: every shard exports every flow to the destinations, within `deadline`.
  void drain_aggregators(std::chrono::steady_clock::time_point deadline);

  caf::actor_system& system_;
  asio::io_context& io_;
  monitoring::metrics& metrics_;
  messages::byte_budget_ptr output_budget_;
  std::shared_ptr<actors::output_template_table> table_;
  actors::enrichment_options enrichment_;
  actors::template_registry_actor registry_;
  std::vector<actors::enricher_actor> enrichers_;
  std::vector<actors::aggregator_actor> aggregators_;

  /// Guards the members below.
  mutable std::mutex mtx_;
  actors::label_cache_actor labels_;
  std::vector<actors::destination_actor> destinations_;
  std::vector<std::string> destination_names_; ///< in the order of `destinations_`
};

} // namespace fa::app
