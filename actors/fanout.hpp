#pragma once

// Routing to destinations: the one place that decides which destination gets a payload
// and which destination holds its credit (DESIGN 2, 3 and 9). Used by the enrichers (to
// the destinations, or to the aggregator shards) and by the aggregator shards (their
// exports, and the records they forward).
// - fanout "all": every destination gets every payload;
// - fanout "hash": a payload goes to the destination of its exporter, a flow to the
//   destination of its key (rendezvous on the destinations' names);
// - fanout "flow": each record to the destination of its flow key (flow_split);
// - split by flow: the destinations are aggregator shards, each record to its flow's.
// A destination with on_full = "block" holds the payload's credit until it has written it,
// so a slow one pauses the receive path; one with on_full = "drop" holds none
// (enriched_batch::hold says why).

#include "actors/flow_split.hpp"
#include "actors/interfaces.hpp"
#include "actors/rendezvous.hpp"
#include "messages/batches.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fa::monitoring {
class metrics;
} // namespace fa::monitoring

namespace fa::actors {

/// How batches are spread over the destinations (`[fanout] mode`).
enum class fanout_mode : std::uint8_t {
  all,  ///< every destination gets every batch
  hash, ///< each exporter (by address) sticks to one destination
  /// each record to one destination by rendezvous hashing of its flow key (records
  /// without one by their exporter, as hash): the proxy tier in front of aggregate-mode
  /// shards (DESIGN 9), both halves of a flow reach one shard whichever proxy got them
  flow,
};

/// The routing part of an enricher's or an aggregator's config, as the supervisor fills
/// it; `destination_set::make` checks it.
struct destination_spec {
  std::vector<destination_actor> destinations;
  fanout_mode fanout = fanout_mode::all;
  /// fanout hash and flow: the destinations' names, in the order of `destinations`; each
  /// one's rendezvous seed is derived from its name, so the choice survives restarts and
  /// reordering of the config.
  std::vector<std::string> names;
  /// Per destination, in the order of `destinations`: on_full = "block", so it holds each
  /// payload's credit until written. A destination without an entry blocks.
  std::vector<bool> blocks;
  /// The destinations are aggregator shards, each owning a range of the flow key's hash:
  /// each record goes to its flow's shard (DESIGN 9); `fanout` is not used.
  bool split_by_flow = false;
  /// fanout flow with fanout.failover: a record whose destination is down (its
  /// destination_up gauge in `metrics` reads 0) goes to its flow's next destination,
  /// counted in records_rerouted_total (flow_split::fail_over).
  bool failover = false;
  monitoring::metrics* metrics = nullptr;
};

/// A checked destination_spec, ready to route: the seeds and the per-record split made
/// once, never per batch.
class destination_set {
 public:
  /// The one check of a spec, at spawn and at every reconfig: the set, or nullopt with
  /// `error` saying why (no destination; fanout hash or flow without one name per
  /// destination).
  static std::optional<destination_set> make(destination_spec spec, std::string& error);

  std::size_t size() const { return spec_.destinations.size(); }
  const destination_actor& operator[](std::size_t i) const { return spec_.destinations[i]; }
  fanout_mode fanout() const { return spec_.fanout; }

  /// Each payload (and each exported flow) goes to one destination, picked by a key:
  /// fanout hash or flow.
  bool keyed() const { return !spec_.split_by_flow && spec_.fanout != fanout_mode::all; }

  /// The destination of `key` (an exporter_key or a flow key's hash) when keyed, by
  /// rendezvous: adding a destination moves only the keys it wins. 0 otherwise.
  std::size_t pick(std::uint64_t key) const { return keyed() ? rendezvous_pick(seeds_, key) : 0; }

  /// The outputs a batch is split into, each output `k` for destination `k` (send_to):
  /// the shards with split_by_flow, the destinations with fanout flow; 1 otherwise, the
  /// batch routed whole (route).
  std::size_t outputs() const { return split_.outputs(); }
  /// Picks each record's output; layouts are cached per template plan and destinations
  /// marked down per batch (begin_batch, end_batch), so not const.
  flow_split& split() { return split_; }

  /// Destination `i` holds the credit of what it is sent (on_full = "block").
  bool blocks(std::size_t i) const { return i >= spec_.blocks.size() || spec_.blocks[i]; }

  /// Sends `payload` to destination `i` by `send(i, enriched_batch)`. A blocking
  /// destination gets `credit`, made on first need: `budgets` charged with the payload's
  /// capacity (DESIGN 3), shared by every destination of one payload.
  template <class Send>
  void send_to(std::size_t i, const std::shared_ptr<const messages::enriched_payload>& payload,
               const messages::session_budgets& budgets, messages::payload_credit& credit,
               Send&& send) const {
    messages::enriched_batch out{payload, nullptr};
    if (blocks(i)) {
      if (!credit)
        credit = std::make_shared<const messages::credit>(budgets, payload->footprint());
      out.hold = credit;
    }
    send(i, std::move(out));
  }

  /// Routes a whole payload: with fanout all to every destination, keyed to its
  /// exporter's (exporter_key of its session: once per payload, never per record; every
  /// payload of a session has the same exporter, so its records stay in order).
  template <class Send>
  void route(const std::shared_ptr<const messages::enriched_payload>& payload,
             const messages::session_budgets& budgets, Send&& send) const {
    messages::payload_credit credit;
    if (keyed()) {
      const auto& session = payload->session;
      send_to(pick(session ? exporter_key(session->peer_v6) : 0), payload, budgets, credit, send);
      return;
    }
    for (std::size_t i = 0; i < size(); ++i)
      send_to(i, payload, budgets, credit, send);
  }

 private:
  destination_set() = default;

  destination_spec spec_;
  std::vector<std::uint64_t> seeds_; ///< keyed: one per destination, from its name
  flow_split split_;
};

/// A `send` for destination_set::route and send_to: `self` sends to the set's actors.
template <class Self>
auto send_from(Self* self, const destination_set& set) {
  return
      [self, &set](std::size_t i, messages::enriched_batch b) { self->send(set[i], std::move(b)); };
}

} // namespace fa::actors
