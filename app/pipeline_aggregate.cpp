// mode = "aggregate" (DESIGN 9): the pipeline's part for the aggregator shards. The
// enrichers' destinations are the shards; the shards export to the real destinations
// with the routes an enricher would have used in proxy mode.

#include "app/pipeline.hpp"

#include "monitoring/log.hpp"

#include <thread>

namespace fa::app {

using monitoring::log;
using monitoring::log_level;

namespace {

/// Long enough for a shard to work through a full mailbox; only reached when one is stuck.
constexpr std::chrono::seconds aggregator_ack_timeout{30};

} // namespace

actors::aggregator_config pipeline::aggregator_setup(const config::config& cfg,
                                                     const actors::enricher_config& routes) {
  const auto& a = cfg.aggregate;
  actors::aggregator_config c;
  c.table.active_timeout =
      std::chrono::duration_cast<flows::clock_type::duration>(a.active_timeout);
  c.table.inactive_timeout =
      std::chrono::duration_cast<flows::clock_type::duration>(a.inactive_timeout);
  c.table.uncorrelated = a.uncorrelated == config::uncorrelated_policy::drop
                             ? flows::uncorrelated_policy::drop
                             : flows::uncorrelated_policy::export_flow;
  // Each shard holds its share of the bound, so all of them together hold at most
  // max_flows (rounded up to a whole flow per shard).
  const std::uint64_t shards = std::max<std::size_t>(1, aggregators_.size());
  c.table.max_flows = static_cast<std::size_t>((a.max_flows + shards - 1) / shards);
  c.destinations = routes.destinations;
  // A shard routes each exported flow by its key with fanout hash already, so fanout
  // flow means the same there: a flow sticks to one destination.
  c.fanout = routes.fanout == actors::fanout_mode::flow ? actors::fanout_mode::hash : routes.fanout;
  c.destination_names = routes.destination_names;
  c.destination_blocks = routes.destination_blocks;
  c.max_set_body = routes.max_set_body;
  c.templates = table_;
  c.output_budget = output_budget_;
  c.metrics = &metrics_;
  return c;
}

void pipeline::start_aggregators(const config::config& cfg, actors::enricher_config& ec) {
  // Each shard owns the flows whose key hashes to it; with several, the enrichers split
  // each batch by flow key (route_to_shards).
  const std::uint32_t n =
      std::max(1u, config::resolved_shards(cfg, std::max(1u, std::thread::hardware_concurrency())));
  aggregators_.resize(n); // aggregator_setup divides max_flows by the number of shards
  for (std::uint32_t i = 0; i < n; ++i) {
    auto c = aggregator_setup(cfg, ec);
    c.shard = i;
    aggregators_[i] = system_.spawn(actors::aggregator, std::move(c));
  }
  route_to_shards(ec);
  log(log_level::info, "aggregate mode",
      {{"shards", std::to_string(n)},
       {"max_flows", std::to_string(cfg.aggregate.max_flows)},
       {"active_timeout_ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                cfg.aggregate.active_timeout)
                                                .count())},
       {"inactive_timeout_ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  cfg.aggregate.inactive_timeout)
                                                  .count())}});
}

void pipeline::route_to_shards(actors::enricher_config& ec) const {
  actors::route_to_shards(ec, aggregators_);
}

void pipeline::reconfigure_aggregators(const config::config& target, actors::enricher_config& ec) {
  auto c = std::make_shared<actors::aggregator_config>(aggregator_setup(target, ec));
  caf::scoped_actor self{system_};
  for (auto& a : aggregators_)
    self->send(a, messages::aggregator_reconfig{c});
  // Once every shard has answered a request sent after the update, none sends to a
  // destination the reload retires: its queue is final and can be drained.
  for (auto& a : aggregators_)
    self->request(a, aggregator_ack_timeout, caf::get_atom_v, actors::shard_atom_v)
        .receive([](messages::aggregator_status&) {},
                 [&](caf::error& err) {
                   log(log_level::warn, "aggregator did not confirm the reload",
                       {{"error", system_.render(err)}});
                 });
  route_to_shards(ec);
}

void pipeline::drain_aggregators(std::chrono::steady_clock::time_point deadline) {
  caf::scoped_actor self{system_};
  for (auto& a : aggregators_) {
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    self->request(a, std::max(remaining, std::chrono::milliseconds{1}), actors::drain_atom_v)
        .receive([](bool) {},
                 [&](caf::error& err) {
                   log(log_level::warn, "aggregator not drained", {{"error", system_.render(err)}});
                 });
  }
}

} // namespace fa::app
