#pragma once

// The aggregate-mode flow table (antrea-aggregate-semantics.md, "reference" below): it
// correlates the source and destination Nodes' records of one connection, keeps the
// per-Node and common counters, and says when each flow is due for export. A plain
// library: no actors, no clock of its own (time is passed in, like the template store).
//
// Behaviour is Antrea v2.7's, with HEAD's #8278 (no export that carries nothing new),
// and these differences, each a choice of this project:
// - A flow waiting for its other half is never lost silently: after the reference's
//   three expiries (e) it is exported uncorrelated or dropped, by `uncorrelated`, and
//   counted either way. The same holds when it is evicted or drained.
// - A hard bound: at `max_flows` the flow updated longest ago is exported early and
//   evicted (counted), never an unbounded table, never a stall.
// - A waiting flow is retried every min(active, inactive) after it was created or last
//   retried; Antrea's heap pops it at the same times unless inactive < active and
//   records from the same Node keep arriving.
// - Timeouts, policy and bound may change at run time: deadlines are kept as the times
//   they count from, so a change applies to every flow and none is lost.
//
// Memory: a flow is one fixed-size entry (in pages, addressed by a 32-bit id), 8 octets
// of an open-addressing index, and its stored record in the compact form of
// aggregate_layout.hpp: the fixed-size fields in a `record_arena` block, the strings and
// tcpState interned in a `string_pool` (shared by every flow with the same names).
// Nothing is allocated per record, and nothing per flow beyond those.
//
// Time: exports and retries are exact (lists ordered by the time each deadline counts
// from, touched only when a flow is exported or retried). Inactivity is kept by a timer
// wheel of 64 ms buckets that a record never touches: a record only stamps its flow's
// last-seen time, and when the bucket a flow was filed in comes due the flow is expired
// or filed again at its true deadline. Eviction takes the flow filed earliest (the least
// recently updated, to the bucket).

#include "flows/aggregate_layout.hpp"
#include "flows/flow_key.hpp"
#include "flows/id_index.hpp"
#include "flows/record_arena.hpp"
#include "flows/string_pool.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace fa::flows {

using clock_type = std::chrono::steady_clock;

/// What happens to a flow whose other half never arrives (issue 11: Antrea drops it).
enum class uncorrelated_policy : std::uint8_t {
  export_flow, ///< export it with what it has (default)
  drop,        ///< Antrea's behaviour
};

/// Why a flow was handed to the sink.
enum class export_reason : std::uint8_t {
  ready,        ///< it became ready: at creation, or when its other half arrived (v2.7)
  active,       ///< its active timeout passed with new data
  inactive,     ///< no record for the inactive timeout; it is removed
  evicted,      ///< the table was full; it is removed
  shutdown,     ///< `drain`; it is removed
  uncorrelated, ///< its other half never arrived after the retries; it is removed
};
constexpr std::size_t num_export_reasons = 6;

std::string_view to_string(export_reason r);

struct flow_table_config {
  clock_type::duration active_timeout = std::chrono::seconds{60};
  clock_type::duration inactive_timeout = std::chrono::seconds{90};
  uncorrelated_policy uncorrelated = uncorrelated_policy::export_flow;
  std::size_t max_flows = 2'000'000; ///< >= 1
};

/// Expiries a flow waiting for its other half survives (Antrea's MaxRetries): it is
/// given up at the third (reference e).
constexpr std::uint8_t max_retries = 2;

/// One Node's side of a flow (reference d.1): its last totals, its deltas since the last
/// export, and the throughputs of its last record.
struct node_side {
  std::array<std::uint64_t, num_counters> counters{};
  std::uint64_t throughput = 0;
  std::uint64_t reverse_throughput = 0;
};

/// The aggregation state of a flow beside its stored record. The common counters,
/// flowEndSeconds, flowEndReason and tcpState live in the stored record itself.
struct flow_state {
  node_side source;
  node_side destination;
  std::uint64_t throughput = 0;
  std::uint64_t reverse_throughput = 0;
  std::uint32_t source_end_seconds = 0;      ///< flowEndSecondsFromSourceNode
  std::uint32_t destination_end_seconds = 0; ///< flowEndSecondsFromDestinationNode
  bool ready = false;                        ///< Antrea's ReadyToSend
  bool correlated = false;                   ///< records of both Nodes were merged
  /// Antrea's correlatedFieldsFilled: false for an inter-Node flow exported without its
  /// other half (a deny flow, or an uncorrelated one), whose missing Pod names Antrea
  /// looks up at export (reference g).
  bool fields_filled = false;
  bool updated = false; ///< a record arrived since the last export (HEAD #8278)
  std::uint8_t retries = 0;
  /// Which Node's record created the flow: 1 source, 2 destination, 0 neither.
  std::uint8_t stored_side = 0;
};

/// A flow as the sink and the inspection see it; valid during the call that gave it.
/// `flow_encoder::write` turns it into a record of `layout->output`.
struct flow_view {
  const flow_key* key = nullptr;
  aggregate_layout_ptr layout; ///< shared: an encoder may keep it past the flow
  /// The aggregated record in the stored form of `layout` (aggregate_layout.hpp).
  ipfix::bytes_view fixed;
  ipfix::bytes_view strings;
  ipfix::bytes_view tcp_state;
  const flow_state* state = nullptr;
  clock_type::time_point last_seen; ///< when its last record was added
  /// For an export by `poll`: the deadline it met (ready: when the flow became ready), so
  /// that now - due is the export's lag. Unset (the epoch) for exports of `add` (eviction)
  /// and `drain`, which are due the moment they happen.
  clock_type::time_point due{};
};

/// Receives exported flows. The flow's deltas and throughputs are reset after the call
/// returns (reference d.4); a removed flow is gone.
class flow_sink {
 public:
  virtual ~flow_sink() = default;
  virtual void on_export(const flow_view& flow, export_reason why) = 0;
};

/// What `add` did with one record.
enum class add_result : std::uint8_t {
  created,          ///< a new flow
  updated,          ///< added to a flow
  correlated,       ///< merged the other Node's half into a waiting flow
  out_of_date,      ///< ignored by the out-of-date rule (reference d.3 step 3)
  malformed,        ///< the octets are not one record of the layout
  not_aggregatable, ///< the layout is not aggregatable
};

/// Counters of every outcome; `flows`, `pending` and `state_bytes` are the current values.
struct flow_table_stats {
  std::uint64_t flows = 0;       ///< in the table, pending included (Antrea's numFlows)
  std::uint64_t pending = 0;     ///< waiting for the other Node's half
  std::uint64_t state_bytes = 0; ///< estimated octets the table holds, strings included
  std::uint64_t strings = 0;     ///< distinct string sets held (string_pool entries)
  std::uint64_t records = 0;     ///< records added (every outcome)
  std::uint64_t created = 0;
  std::uint64_t correlated = 0;
  std::uint64_t out_of_date = 0;
  std::uint64_t malformed = 0;
  std::uint64_t not_aggregatable = 0;
  std::array<std::uint64_t, num_export_reasons> exports{}; ///< records handed to the sink
  std::uint64_t unchanged = 0; ///< exports skipped: nothing new since the last (HEAD #8278)
  std::uint64_t expired = 0;   ///< flows removed by the inactive timeout
  std::uint64_t evicted = 0;   ///< flows removed because the table was full
  std::uint64_t abandoned = 0; ///< waiting flows removed after the retries (reference e)
  std::uint64_t drained = 0;   ///< flows removed by `drain`
  std::uint64_t uncorrelated_exported = 0; ///< waiting flows exported without their other half
  std::uint64_t uncorrelated_dropped = 0;  ///< waiting flows dropped (`uncorrelated = drop`)
};

/// Which flows `list` shows.
struct flow_filter {
  std::optional<address> ip;         ///< the key's source or destination
  std::optional<std::uint16_t> port; ///< the key's source or destination port
};

class flow_table {
 public:
  explicit flow_table(flow_table_config cfg = {});
  ~flow_table();
  flow_table(const flow_table&) = delete;
  flow_table& operator=(const flow_table&) = delete;

  /// New timeouts, policy and bound; no flow is lost. A lower `max_flows` evicts down to
  /// it at the next `poll`.
  void reconfigure(const flow_table_config& cfg);
  const flow_table_config& config() const { return cfg_; }

  /// Adds one record (exactly its octets) of `layout`. Flows evicted to make room are
  /// exported to `sink` before it returns. The record is copied; nothing refers to it
  /// afterwards.
  add_result add(const aggregate_layout_ptr& layout, ipfix::bytes_view record,
                 clock_type::time_point now, flow_sink& sink);

  /// Adds every record of a data set body of `layout` (padding allowed, RFC 7011
  /// 3.3.1); returns the number of records read. A malformed record ends the set and is
  /// counted. Faster than `add` per record: the records' memory loads are started a few
  /// records ahead. `varlen`, when not empty, is where the variable-length values of the
  /// records lie (`num_varlen` per record, as `walk_varlen` gives them; the enricher
  /// hands them over, enriched_payload): the records are then read without a walk, and
  /// a record they do not fit is malformed as one that does not parse.
  std::size_t add_set(const aggregate_layout_ptr& layout, ipfix::bytes_view body,
                      clock_type::time_point now, flow_sink& sink,
                      std::span<const ipfix::field_slice> varlen = {});

  /// Exports what is due at `now` and removes what expired (reference e), handling at
  /// most `limit` flows (exported, skipped as unchanged, retried or removed): a step of
  /// bounded time and output. Returns true when nothing due at `now` is left, false when
  /// the limit stopped it (call again to go on; the order of what is due is kept).
  bool poll(clock_type::time_point now, flow_sink& sink,
            std::size_t limit = static_cast<std::size_t>(-1));

  /// Exports every flow and empties the table: ready flows with new data as they are,
  /// waiting ones by `uncorrelated` (reason `shutdown`).
  void drain(flow_sink& sink);

  /// A time no later than the earliest deadline (inactivity to the 64 ms bucket), or
  /// nullopt when the table is empty: the caller's timer need not fire before it.
  std::optional<clock_type::time_point> next_due() const;

  std::size_t size() const { return size_; }
  flow_table_stats stats() const;

  /// The hash the table's index files `key` under (tests find collisions with it).
  static std::uint64_t key_hash(const flow_key& key);

  /// The flow with `key`, if any.
  std::optional<flow_view> find(const flow_key& key) const;

  /// Calls `f(const flow_view&)` for up to `limit` flows matching `filter`, in storage
  /// order from `cursor` (0 to start). Returns the cursor to continue from, or nullopt
  /// when no flow is left. For inspection: a page costs O(flows scanned).
  template <class F>
  std::optional<std::uint32_t> list(const flow_filter& filter, std::uint32_t cursor,
                                    std::size_t limit, F&& f) const {
    std::size_t n = 0;
    for (std::uint32_t id = cursor; id < high_water_; ++id) {
      if (!matches(id, filter))
        continue;
      if (n == limit)
        return id;
      f(view(id));
      ++n;
    }
    return std::nullopt;
  }

 private:
  struct entry;
  struct parsed;
  struct job;
  struct list_head {
    std::uint32_t head = none;
    std::uint32_t tail = none;
    std::size_t size = 0;
  };
  struct layout_slot {
    aggregate_layout_ptr layout;
    std::uint32_t flows = 0;
  };
  static constexpr std::uint32_t none = 0xffffffff;

  // Records.
  bool parse(const aggregate_layout& l, ipfix::bytes_view record,
             std::span<const ipfix::field_slice> fields, parsed& in) const;
  /// `id`: the flow `lookup` finds for the record's key now (`none`: no flow).
  add_result process(const aggregate_layout_ptr& layout, const parsed& in, std::uint32_t id,
                     std::int64_t now, flow_sink& sink);
  std::uint32_t lookup(const flow_key& key, std::uint64_t h) const;
  void create(std::uint16_t slot, const parsed& in, std::int64_t now);
  add_result update(std::uint32_t id, const parsed& in, std::int64_t now);
  void correlate(entry& e, const parsed& in);
  bool aggregate(entry& e, const parsed& in, bool source, bool destination);
  void prefetch_entry(std::uint32_t id) const;
  void prefetch_record(std::uint32_t id) const;

  // Export and removal.
  /// `due_ms`: flow_view::due (0: unset).
  void export_flow(std::uint32_t id, export_reason why, flow_sink& sink, std::int64_t due_ms = 0);
  void give_up(std::uint32_t id, export_reason why, flow_sink& sink, std::int64_t due_ms = 0);
  void evict_one(flow_sink& sink);
  void remove(std::uint32_t id);
  /// Returns false when `left` (flows it may still handle) ran out first.
  bool expire_idle(std::int64_t now, flow_sink& sink, std::size_t& left);

  // Entries, lists and the wheel.
  std::uint32_t allocate_entry();
  entry& at(std::uint32_t id);
  const entry& at(std::uint32_t id) const;
  /// Intrusive doubly linked lists through the entry members `Prev` and `Next`.
  template <auto Prev, auto Next>
  void push_back(list_head& l, std::uint32_t id);
  template <auto Prev, auto Next>
  void unlink(list_head& l, std::uint32_t id);
  void sched_push(list_head& l, std::uint32_t id);
  void sched_unlink(list_head& l, std::uint32_t id);
  list_head& sched_list(const entry& e);
  void wheel_file(std::uint32_t id, std::int64_t deadline);
  void wheel_unlink(std::uint32_t id);
  void wheel_refile_all();

  std::uint16_t use_layout(const aggregate_layout_ptr& layout);
  void release_layout(std::uint16_t slot);

  flow_view view(std::uint32_t id) const;
  bool matches(std::uint32_t id, const flow_filter& filter) const;

  static std::int64_t ms(clock_type::time_point t);
  std::int64_t active_ms() const;
  std::int64_t inactive_ms() const;

  flow_table_config cfg_;
  flow_table_stats stats_;
  std::size_t size_ = 0;

  std::vector<std::unique_ptr<entry[]>> pages_;
  std::uint32_t high_water_ = 0;  ///< ids below it have been used
  std::uint32_t free_ids_ = none; ///< freed entries, linked through sched_next
  id_index index_;
  /// Flows inserted into or erased from `index_` so far: `add_set` trusts a probe made
  /// before its record's turn only if no flow came or went in between.
  std::uint64_t index_changes_ = 0;
  record_arena arena_; ///< fixed areas
  string_pool strings_;

  list_head pending_; ///< waiting for the other half, by retry base
  list_head due_;     ///< ready, not exported since (v2.7: export at once)
  list_head active_;  ///< ready and exported, by last export

  std::vector<list_head> wheel_;  ///< inactivity buckets (empty until the first flow)
  std::int64_t wheel_cursor_ = 0; ///< the bucket number `poll` reached
  std::int64_t wheel_first_ = 0;  ///< no flow is filed in a bucket before this one

  std::vector<layout_slot> layouts_;
  const aggregate_layout* last_layout_ = nullptr; ///< cache: the last `use_layout`
  std::uint16_t last_slot_ = 0;

  /// tcpState's few values, the id each was last interned as (`string_pool::
  /// intern_hinted`), by `tcp_hint_slot`: most updates change it (issue 11 profile).
  std::array<string_pool::id_type, 16> tcp_hints_{};
  string_pool::id_type intern_tcp_state(ipfix::bytes_view v);

  // Scratch, reused: no allocation per record.
  std::vector<ipfix::field_slice> fields_;
  std::vector<std::uint8_t> strings_buf_;
};

} // namespace fa::flows
