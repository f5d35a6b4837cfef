#pragma once

// Splitting a batch by flow into N outputs (DESIGN 9), the records of one flow always to
// the same output, whichever Node, session or process they came from:
// - the aggregator shards of one process (mode = "aggregate" with several shards): each
//   shard owns a range of the flow key's hash (flows::shard_of);
// - the destinations of fanout = "flow" (the proxy tier in front of aggregate-mode
//   shards): rendezvous hashing of the flow key over the destinations' names, so adding
//   or removing one moves only the flows it wins or owned.
// Keyed by the flow key (antrea-aggregate-semantics.md a, the FromExternal ingress half
// included, as flows::record_key reads it), both halves of a connection pick the same
// output. What a template needs is computed once per template plan, never per record
// (flow_key_reader: where each key field is); per record it is a few loads at those
// offsets, one hash of the key's words (flow_hash) and one weight per destination.
// With destinations marked down (fanout.failover), a record whose output is down goes to
// the next output of its key's rendezvous order, counted per output it should have gone to.

#include "actors/rendezvous.hpp"
#include "base/hash.hpp"
#include "flows/aggregate_layout.hpp"
#include "ipfix/record.hpp"
#include "ipfix/wire.hpp"
#include "messages/template_plan.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace fa::actors {

/// The hash flow_split routes a flow by, from its key's words: each address as two
/// big-endian 64-bit words (IPv4 in IPv4-mapped form, so an IPv4 record and an IPv6 one
/// carrying the mapped address agree, as reference a's text keys do), then the ports and
/// protocol. Each word is multiplied by its own odd constant and the products summed, so
/// the five multiplications do not wait on each other, then mixed once (mix64): every
/// bit of the result depends on every bit of the key. The same on every platform and in
/// every process, so every proxy replica routes a flow alike.
inline std::uint64_t flow_hash(std::uint64_t source_hi, std::uint64_t source_lo,
                               std::uint64_t destination_hi, std::uint64_t destination_lo,
                               std::uint64_t ports_protocol) {
  return base::mix64(source_hi * 0x9e3779b97f4a7c15ULL + source_lo * 0xbf58476d1ce4e5b9ULL +
                     destination_hi * 0x94d049bb133111ebULL +
                     destination_lo * 0xff51afd7ed558ccdULL +
                     ports_protocol * 0xc4ceb9fe1a85ec53ULL);
}

/// The word of a key's ports and protocol in flow_hash.
inline std::uint64_t ports_word(std::uint16_t source, std::uint16_t destination,
                                std::uint8_t protocol) {
  return (std::uint64_t{source} << 24) | (std::uint64_t{destination} << 8) | protocol;
}

/// flow_hash of a key: what flow_key_reader::hash computes from a record's octets.
inline std::uint64_t flow_hash(const flows::flow_key& k) {
  return flow_hash(ipfix::read_u64(k.source.data()), ipfix::read_u64(k.source.data() + 8),
                   ipfix::read_u64(k.destination.data()), ipfix::read_u64(k.destination.data() + 8),
                   ports_word(k.source_port, k.destination_port, k.protocol));
}

/// Where a fixed-size field of a record is, given the variable-length values
/// record_layout::walk_varlen found: `rel` octets after the end of value `after`, or after
/// the record start when `after` is -1. Made once per template.
struct field_at {
  std::int16_t after = -1;
  std::uint16_t rel = 0;

  const std::uint8_t* in(const std::uint8_t* record,
                         std::span<const ipfix::field_slice> varlen) const {
    std::size_t base = 0;
    if (after >= 0) {
      const auto& v = varlen[static_cast<std::size_t>(after)];
      base = std::size_t{v.offset} + v.length;
    }
    return record + base + rel;
  }
};

/// How to read the flow key of one template's records (reference a) and hash it
/// (flow_hash), made once per template plan (flow_split::layout_of) from the template's
/// aggregate layout: the same key as flows::record_key, FromExternal ingress half
/// included, read at precomputed places (field_at) without assembling a flow_key.
struct flow_key_reader {
  /// Which address pair a record is keyed by: IPv4, IPv6, or (a template with both
  /// pairs) IPv4 unless both IPv4 addresses are 0.0.0.0.
  enum class family : std::uint8_t { v4, v6, v4_unless_zero };
  family addresses = family::v4;
  field_at source; ///< the IPv4 pair, or the IPv6 pair with family::v6
  field_at destination;
  field_at source6; ///< family::v4_unless_zero: the IPv6 pair
  field_at destination6;
  field_at source_port;
  field_at destination_port;
  field_at protocol;
  field_at type; ///< flowType
  /// The template has proxySnatPort: a FromExternal record may be an ingress half.
  bool snat = false;
  field_at snat_port;
  field_at snat_ipv4; ///< when `has_snat_ipv4`
  field_at snat_ipv6; ///< when `has_snat_ipv6`
  bool has_snat_ipv4 = false;
  bool has_snat_ipv6 = false;
  /// destinationPodName: the rank of its variable-length value, or -1 (then
  /// `destination_named` says whether a fixed-size one, or none, counts as named).
  std::int16_t destination_pod = -1;
  bool destination_named = false;

  /// The addresses of one family, the ports and the protocol all precede the first
  /// variable-length value (Antrea's templates): they are read at fixed offsets (`rel`).
  bool leading = false;

  /// flow_hash(flows::record_key(...)) of `record`, whose variable-length values
  /// walk_varlen found (`varlen`).
  std::uint64_t hash(const std::uint8_t* record, std::span<const ipfix::field_slice> varlen) const {
    key_words k;
    if (leading) {
      if (addresses == family::v4) {
        k.s_lo = mapped(ipfix::read_u32(record + source.rel));
        k.d_lo = mapped(ipfix::read_u32(record + destination.rel));
      } else {
        k.s_hi = ipfix::read_u64(record + source.rel);
        k.s_lo = ipfix::read_u64(record + source.rel + 8);
        k.d_hi = ipfix::read_u64(record + destination.rel);
        k.d_lo = ipfix::read_u64(record + destination.rel + 8);
      }
      k.source_port = ipfix::read_u16(record + source_port.rel);
      k.destination_port = ipfix::read_u16(record + destination_port.rel);
      k.protocol = record[protocol.rel];
    } else {
      read_placed(record, varlen, k);
    }
    // Reference a, HEAD: the ingress half of an inter-Node FromExternal flow (no
    // destination Pod, a proxy SNAT address) is keyed on the SNAT address and port, the
    // destination Node's natural key.
    if (snat && *type.in(record, varlen) == flows::flow_type::from_external && !named(varlen))
      ingress_source(record, varlen, k);
    return flow_hash(k.s_hi, k.s_lo, k.d_hi, k.d_lo,
                     ports_word(k.source_port, k.destination_port, k.protocol));
  }

 private:
  /// The low word of an IPv4-mapped address (::ffff:a.b.c.d).
  static std::uint64_t mapped(std::uint32_t v4) { return (std::uint64_t{0xffff} << 32) | v4; }

  bool named(std::span<const ipfix::field_slice> varlen) const {
    return destination_pod >= 0 ? varlen[static_cast<std::size_t>(destination_pod)].length > 0
                                : destination_named;
  }

  /// A key as flow_hash takes it: the addresses as big-endian words.
  struct key_words {
    std::uint64_t s_hi = 0, s_lo = 0, d_hi = 0, d_lo = 0;
    std::uint16_t source_port = 0, destination_port = 0;
    std::uint8_t protocol = 0;
  };

  /// The key of a template that is not `leading`, each field at its place.
  void read_placed(const std::uint8_t* record, std::span<const ipfix::field_slice> varlen,
                   key_words& k) const;

  /// The FromExternal ingress half's source: the SNAT address and port when it has one.
  void ingress_source(const std::uint8_t* record, std::span<const ipfix::field_slice> varlen,
                      key_words& k) const;
};

class flow_split {
 public:
  /// `shards` outputs, each owning a range of the key hash (in-process aggregator shards).
  explicit flow_split(std::size_t shards = 1)
      : outputs_(shards == 0 ? 1 : shards) {}

  /// One output per seed (destination_seed of each destination's name): rendezvous.
  explicit flow_split(std::vector<std::uint64_t> seeds)
      : outputs_(seeds.empty() ? 1 : seeds.size())
      , seeds_(std::move(seeds)) {}

  std::size_t outputs() const { return outputs_; }

  /// The reader of the flow key of `plan`'s records, or nullptr when they cannot be
  /// aggregated (no Antrea elements, a key field, flowType or time missing, reduced
  /// counters: flows::make_aggregate_layout says why); those go by `output_of_exporter`.
  /// Made on the first call for a plan and kept while the plan lives.
  const flow_key_reader* layout_of(const messages::template_plan_ptr& plan);

  /// The output of one record read by `key` (from `layout_of`): `record` is its octets
  /// and `varlen` its variable-length values as the plan's record_layout walked them.
  std::size_t output_of(const flow_key_reader& key, ipfix::bytes_view record,
                        std::span<const ipfix::field_slice> varlen) {
    if (outputs_ == 1)
      return 0;
    return pick(key.hash(record.data(), varlen));
  }

  /// The output of records without a flow key, by their exporter (exporter_key): all of
  /// a session's such records go to one output, in its order (fanout hash's choice).
  std::size_t output_of_exporter(std::uint64_t exporter) {
    return outputs_ == 1 ? 0 : pick(exporter);
  }

  /// fanout.failover (destinations only): output `i` counts as down while `up[i]` (its
  /// destination_up gauge, which the destination itself sets) reads 0; what it loses
  /// is added to `rerouted[i]`. One entry per seed, or the call is ignored.
  void fail_over(std::vector<const prometheus::Gauge*> up,
                 std::vector<prometheus::Counter*> rerouted);

  /// Once per batch, before its records: reads which outputs are down (fanout.failover).
  void begin_batch();
  /// Once per batch, after its records: counts what was re-routed (fanout.failover).
  void end_batch();

  /// Forgets the layouts of plans that are gone (call now and then, not per record).
  void prune();

 private:
  std::size_t pick(std::uint64_t h) {
    if (seeds_.empty())
      return flows::shard_of(h, outputs_);
    auto winner = rendezvous_pick(seeds_, h);
    if (num_down_ == 0 || !down_[winner])
      return winner;
    auto next = rendezvous_pick_up(seeds_, h, down_); // the winner when all are down
    if (next != winner)
      ++rerouted_[winner];
    return next;
  }

  struct entry {
    const messages::template_plan* key = nullptr;
    std::weak_ptr<const messages::template_plan> alive;
    std::shared_ptr<const flow_key_reader> reader; ///< null: not aggregatable
  };
  std::size_t outputs_;
  std::vector<std::uint64_t> seeds_; ///< empty: ranges of the hash (shards)
  // fanout.failover, per seed: whether it is down (read per batch from `up_`), and the
  // records of this batch it lost to the next choice (added to `rerouted_counters_`).
  std::vector<const prometheus::Gauge*> up_;
  std::vector<prometheus::Counter*> rerouted_counters_;
  std::vector<bool> down_;
  std::size_t num_down_ = 0;
  std::vector<std::uint64_t> rerouted_;
  std::vector<entry> entries_;
  std::size_t last_ = 0; ///< the entry found last: consecutive slices mostly share a plan
};

} // namespace fa::actors
