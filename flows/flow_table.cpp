#include "flows/flow_table.hpp"

#include "base/read_ahead.hpp"
#include "ipfix/message.hpp"
#include "ipfix/wire.hpp"

#include <algorithm>
#include <cstring>

namespace fa::flows {

namespace {

constexpr std::size_t page_bits = 12;
constexpr std::size_t page_size = std::size_t{1} << page_bits;

constexpr std::size_t wheel_bits = 12;
constexpr std::size_t wheel_size = std::size_t{1} << wheel_bits; ///< buckets
constexpr std::int64_t bucket_ms = 64;                           ///< 4096 x 64 ms = 262 s

/// The records `add_set` has in flight: a power of two above the last stage's lag.
constexpr std::size_t ring_size = 16;
/// Lags of the pipeline stages behind the walk: the index slot is loaded first, then
/// the entry, then its fixed area and tcpState (and a waiting flow's string entry), then
/// a waiting flow's strings, each while other records are processed.
constexpr std::size_t lag_probe = 4;
constexpr std::size_t lag_load = 8;
constexpr std::size_t lag_strings = 10;
constexpr std::size_t lag_process = 12;
static_assert(lag_process < ring_size);

enum sched_kind : std::uint8_t { sched_free, sched_pending, sched_due, sched_active };

/// Reference c: a value is "set" when it is a non-empty string or has a non-zero octet
/// (integers, addresses, UUIDs).
bool is_set(ipfix::bytes_view v, bool varlen) {
  if (varlen)
    return !v.empty();
  return std::any_of(v.begin(), v.end(), [](std::uint8_t b) { return b != 0; });
}

constexpr bool is_total(std::size_t c) {
  return c == packet_total || c == octet_total || c == reverse_packet_total ||
         c == reverse_octet_total;
}

std::int64_t bucket_of(std::int64_t t) {
  return t >= 0 ? t / bucket_ms : (t - bucket_ms + 1) / bucket_ms;
}

} // namespace

// Each word is multiplied by its own odd constant and the products summed, then mixed
// once, as actors::flow_hash does: flows::hash chains five mix64, about 60 cycles of
// latency per record (issue 11 profile). Internal to the table (nothing routes by it),
// so it need not equal any other hash.
std::uint64_t flow_table::key_hash(const flow_key& k) {
  std::uint64_t w[4];
  std::memcpy(w, k.source.data(), 16);
  std::memcpy(w + 2, k.destination.data(), 16);
  const std::uint64_t ports =
      (std::uint64_t{k.source_port} << 24) | (std::uint64_t{k.destination_port} << 8) | k.protocol;
  return base::mix64(w[0] * 0x9e3779b97f4a7c15ULL + w[1] * 0xbf58476d1ce4e5b9ULL +
                     w[2] * 0x94d049bb133111ebULL + w[3] * 0xff51afd7ed558ccdULL +
                     ports * 0xc4ceb9fe1a85ec53ULL);
}

std::string_view to_string(export_reason r) {
  switch (r) {
  case export_reason::ready:
    return "ready";
  case export_reason::active:
    return "active";
  case export_reason::inactive:
    return "inactive";
  case export_reason::evicted:
    return "evicted";
  case export_reason::shutdown:
    return "shutdown";
  case export_reason::uncorrelated:
    return "uncorrelated";
  }
  return "unknown";
}

/// One flow: fixed size, in pages. The fields a record touches come first.
struct flow_table::entry {
  flow_key key;
  std::uint16_t layout = 0; ///< slot in layouts_
  std::uint32_t strings = string_pool::empty;
  std::uint32_t tcp_state = string_pool::empty;
  std::uint8_t* fixed = nullptr; ///< the fixed area, layout's fixed_size octets
  std::int64_t last_seen = 0;    ///< last record added
  std::int64_t sched_base = 0;   ///< pending: created or last retried; due: became ready;
                                 ///< active: last exported
  std::uint32_t sched_prev = none;
  std::uint32_t sched_next = none; ///< also links free entries
  std::uint32_t wheel_prev = none;
  std::uint32_t wheel_next = none;
  std::uint16_t wheel_slot = 0xffff; ///< 0xffff: in no bucket
  std::uint8_t sched = sched_free;
  flow_state state;
};

/// One incoming record, read once.
struct flow_table::parsed {
  const aggregate_layout* layout = nullptr;
  ipfix::bytes_view rec;
  std::span<const ipfix::field_slice> fields; ///< its variable-length values
  flow_key key;
  std::uint64_t hash = 0;
  std::uint8_t type = 0;
  std::uint8_t ingress_action = 0;
  std::uint8_t egress_action = 0;
  std::uint8_t reason = 0;
  bool has_reason = false;
  bool src_named = false;
  bool dst_named = false;
  bool ingress_half = false; ///< of an inter-Node FromExternal flow (reference a)
  bool from_source = false;  ///< reference b: a source-Node record
  bool from_destination = false;
  bool needs_correlation = false;
  std::uint32_t start = 0; ///< seconds
  std::uint32_t end = 0;   ///< seconds
  std::uint64_t end_ms = 0;
  std::array<std::uint64_t, num_counters> counters{};
  ipfix::bytes_view tcp_state;

  ipfix::field_slice slice(field_index i) const {
    return layout->record.located(static_cast<std::size_t>(i), fields);
  }
  /// A fixed-size field's first octet.
  const std::uint8_t* at(field_index i) const {
    return layout->fixed_at(i, rec.data(), fields.data());
  }
  ipfix::bytes_view value(field_index i) const {
    auto s = slice(i);
    return rec.subspan(s.offset, s.length);
  }
};

/// A record in `add_set`'s pipeline.
struct flow_table::job {
  parsed in;
  std::uint32_t id = none;   ///< what the probe found
  std::uint64_t changes = 0; ///< `index_changes_` at the probe
};

flow_table::flow_table(flow_table_config cfg) {
  reconfigure(cfg);
}

flow_table::~flow_table() = default;

void flow_table::reconfigure(const flow_table_config& cfg) {
  const auto old_inactive = cfg_.inactive_timeout;
  cfg_ = cfg;
  // A zero timeout would make poll's loops re-queue a flow at the deadline it just met.
  cfg_.active_timeout =
      std::max<clock_type::duration>(cfg_.active_timeout, std::chrono::milliseconds{1});
  cfg_.inactive_timeout =
      std::max<clock_type::duration>(cfg_.inactive_timeout, std::chrono::milliseconds{1});
  cfg_.max_flows = std::max<std::size_t>(cfg_.max_flows, 1);
  // Flows are filed no later than their deadline; a shorter timeout moves deadlines
  // earlier, so every flow is filed again (once per reload, not per record).
  if (cfg_.inactive_timeout < old_inactive)
    wheel_refile_all();
}

std::int64_t flow_table::ms(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t flow_table::active_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.active_timeout).count();
}

std::int64_t flow_table::inactive_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.inactive_timeout).count();
}

// ---------------------------------------------------------------------------------------
// Adding records.

add_result flow_table::add(const aggregate_layout_ptr& layout, ipfix::bytes_view record,
                           clock_type::time_point now, flow_sink& sink) {
  ++stats_.records;
  const auto& l = *layout;
  if (!l.aggregatable) {
    ++stats_.not_aggregatable;
    return add_result::not_aggregatable;
  }
  const std::size_t nv = l.record.num_varlen();
  if (fields_.size() < nv)
    fields_.resize(nv);
  std::span<ipfix::field_slice> fields{fields_.data(), nv};
  ipfix::parse_error err = ipfix::parse_error::none;
  parsed in;
  if (record.empty() || l.record.walk_varlen(record, fields, err) != record.size() ||
      !parse(l, record, fields, in)) {
    ++stats_.malformed;
    return add_result::malformed;
  }
  return process(layout, in, lookup(in.key, in.hash), ms(now), sink);
}

std::size_t flow_table::add_set(const aggregate_layout_ptr& layout, ipfix::bytes_view body,
                                clock_type::time_point now, flow_sink& sink,
                                std::span<const ipfix::field_slice> varlen) {
  const auto& l = *layout;
  if (!l.aggregatable) {
    ipfix::parse_error err = ipfix::parse_error::none;
    const auto n = ipfix::count_records(body, l.record, err);
    stats_.records += n;
    stats_.not_aggregatable += n;
    return n;
  }
  const std::int64_t n = ms(now);
  const std::size_t nv = l.record.num_varlen();
  if (fields_.size() < nv * ring_size)
    fields_.resize(nv * ring_size);
  std::array<job, ring_size> ring;
  const std::size_t min_length = l.record.min_length();
  std::size_t pos = 0;
  bool malformed = false;
  // Values handed over: as many records as they describe, no walk.
  const bool given = nv > 0 && !varlen.empty();
  const std::size_t given_records = given ? varlen.size() / nv : 0;

  // The enricher wrote the set on another core: the first touch of each record
  // (`record_key`, `parse`) waited for it (issue 11 profile).
  base::read_ahead ahead{body.data(), body.size()};
  ahead.reached(0);
  // Stage 1: walk and parse a record, hash its key, start loading its index slot.
  auto walk = [&](std::size_t i) {
    if (malformed || min_length == 0 || body.size() - pos < min_length)
      return false; // the end, or padding (RFC 7011 3.3.1)
    if (given && i >= given_records)
      return false;
    auto rest = body.subspan(pos);
    std::span<const ipfix::field_slice> fields;
    std::size_t len = 0;
    if (given) {
      fields = varlen.subspan(i * nv, nv);
      len = l.record.length_of(fields, rest.size());
    } else {
      std::span<ipfix::field_slice> walked{fields_.data() + (i % ring_size) * nv, nv};
      ipfix::parse_error err = ipfix::parse_error::none;
      len = l.record.walk_varlen(rest, walked, err);
      fields = walked;
    }
    auto& j = ring[i % ring_size];
    if (len == 0 || !parse(l, rest.first(len), fields, j.in)) {
      malformed = true;
      return false;
    }
    pos += len;
    ahead.reached(pos);
    index_.prefetch(j.in.hash);
    return true;
  };
  // Stage 2: the slot is loaded by now; take the flow whose hash tag matches (with 32
  // bits of tag, nearly always the one with the key) and start loading its entry. The
  // key is compared in stage 3, once the entry is loaded: comparing it here waited for
  // the entry (issue 11 profile).
  auto probe = [&](std::size_t i) {
    auto& j = ring[i % ring_size];
    j.id = index_.find_tag(j.in.hash);
    j.changes = index_changes_;
    if (j.id != none)
      prefetch_entry(j.id);
  };
  // The flow is still what the probe found, unless records since then created or
  // removed flows; then it may have moved, gone or been made (the same key twice in
  // one set).
  auto still_found = [&](const job& j) { return j.changes == index_changes_; };
  // Stage 3: the entry is loaded: check the key (another flow with the same tag: the
  // whole lookup); start loading its fixed area and tcpState, and the string entry of a
  // waiting flow, which a record of its other Node rewrites.
  auto load = [&](std::size_t i) {
    auto& j = ring[i % ring_size];
    if (j.id == none || !still_found(j))
      return;
    if (at(j.id).key != j.in.key)
      j.id = lookup(j.in.key, j.in.hash);
    if (j.id != none)
      prefetch_record(j.id);
  };
  // Stage 4: the strings of a waiting flow.
  auto load_strings = [&](std::size_t i) {
    const auto& j = ring[i % ring_size];
    if (j.id != none && still_found(j) && at(j.id).sched == sched_pending)
      strings_.prefetch_data(at(j.id).strings);
  };
  // Stage 5: the record's work, looking the key up again if the flows changed.
  auto work = [&](std::size_t i) {
    ++stats_.records;
    const auto& j = ring[i % ring_size];
    process(layout, j.in, still_found(j) ? j.id : lookup(j.in.key, j.in.hash), n, sink);
  };
  auto step = [&](std::size_t i, std::size_t walked) {
    if (i >= lag_probe && i - lag_probe < walked)
      probe(i - lag_probe);
    if (i >= lag_load && i - lag_load < walked)
      load(i - lag_load);
    if (i >= lag_strings && i - lag_strings < walked)
      load_strings(i - lag_strings);
    if (i >= lag_process && i - lag_process < walked)
      work(i - lag_process);
  };
  std::size_t i = 0;
  for (; walk(i); ++i)
    step(i, i + 1);
  for (const std::size_t walked = i; i < walked + lag_process; ++i)
    step(i, walked);
  if (malformed) {
    ++stats_.records;
    ++stats_.malformed;
  }
  return i - lag_process + (malformed ? 1 : 0);
}

bool flow_table::parse(const aggregate_layout& l, ipfix::bytes_view record,
                       std::span<const ipfix::field_slice> fields, parsed& in) const {
  // Every member is written below, none first cleared: `in = parsed{}` was a 200-octet
  // clear per record, a fifth of this function's time (issue 11 profile).
  in.layout = &l;
  in.rec = record;
  in.fields = fields;

  in.key = record_key(l, record, fields, &in.ingress_half);
  in.type = *in.at(l.flow_type);
  in.ingress_action = l.ingress_rule_action >= 0 ? *in.at(l.ingress_rule_action) : 0;
  in.egress_action = l.egress_rule_action >= 0 ? *in.at(l.egress_rule_action) : 0;
  in.has_reason = l.flow_end_reason >= 0;
  in.reason = in.has_reason ? *in.at(l.flow_end_reason) : 0;
  in.src_named = l.source_pod_name >= 0 && in.slice(l.source_pod_name).length > 0;
  in.dst_named = l.destination_pod_name >= 0 && in.slice(l.destination_pod_name).length > 0;

  in.hash = key_hash(in.key);
  // Reference b.
  const bool deny = in.egress_action == rule_action::drop ||
                    in.egress_action == rule_action::reject ||
                    in.ingress_action == rule_action::reject;
  in.needs_correlation = (in.type == flow_type::inter_node || in.ingress_half) && !deny;
  in.from_source = (in.src_named && !in.dst_named) || in.ingress_half;
  in.from_destination = in.dst_named && !in.src_named;

  if (l.flow_start_seconds >= 0)
    in.start = ipfix::read_u32(in.at(l.flow_start_seconds));
  else
    in.start = static_cast<std::uint32_t>(ipfix::read_u64(in.at(l.flow_start_milliseconds)) / 1000);
  in.end = 0;
  in.end_ms = 0;
  if (l.flow_end_seconds >= 0) {
    in.end = ipfix::read_u32(in.at(l.flow_end_seconds));
    in.end_ms = std::uint64_t{in.end} * 1000;
  }
  if (l.flow_end_milliseconds >= 0) {
    in.end_ms = ipfix::read_u64(in.at(l.flow_end_milliseconds));
    if (l.flow_end_seconds < 0)
      in.end = static_cast<std::uint32_t>(in.end_ms / 1000);
  }
  for (std::size_t c = 0; c < num_counters; ++c)
    in.counters[c] = l.counters[c] >= 0 ? ipfix::read_u64(in.at(l.counters[c])) : 0;
  in.tcp_state = l.tcp_state >= 0 ? in.value(l.tcp_state) : ipfix::bytes_view{};
  return true;
}

std::uint32_t flow_table::lookup(const flow_key& key, std::uint64_t h) const {
  return index_.find(h, [&](std::uint32_t id) { return at(id).key == key; });
}

void flow_table::prefetch_entry(std::uint32_t id) const {
  const auto* p = reinterpret_cast<const char*>(&at(id));
  for (std::size_t off = 0; off < sizeof(entry); off += 64)
    __builtin_prefetch(p + off);
}

void flow_table::prefetch_record(std::uint32_t id) const {
  const entry& e = at(id);
  if (e.fixed) {
    __builtin_prefetch(e.fixed);
    __builtin_prefetch(e.fixed + 64);
  }
  strings_.prefetch(e.tcp_state);
  if (e.sched == sched_pending)
    strings_.prefetch(e.strings);
}

add_result flow_table::process(const aggregate_layout_ptr& layout, const parsed& in,
                               std::uint32_t id, std::int64_t now, flow_sink& sink) {
  if (id != none)
    return update(id, in, now);
  // The aggregate record adds the aggregation block; it must still fit a set.
  if (in.rec.size() + aggregation_block_size > ipfix::max_record_length) {
    ++stats_.malformed;
    return add_result::malformed;
  }
  if (size_ >= cfg_.max_flows)
    evict_one(sink);
  auto slot = use_layout(layout);
  if (slot == 0xffff) { // 65535 templates in use at once: not aggregated, counted
    ++stats_.not_aggregatable;
    return add_result::not_aggregatable;
  }
  create(slot, in, now);
  return add_result::created;
}

void flow_table::create(std::uint16_t slot, const parsed& in, std::int64_t now) {
  const auto& l = *in.layout;
  const std::uint32_t id = allocate_entry();
  entry& e = at(id);
  e.key = in.key;
  e.layout = slot;
  ++layouts_[slot].flows;
  e.fixed = arena_.allocate(std::max<std::size_t>(l.fixed_size, 1));
  strings_buf_.clear();
  ipfix::bytes_view tcp;
  compact_record(l, in.rec, in.fields, e.fixed, strings_buf_, tcp);
  e.strings = strings_.intern(strings_buf_);
  e.tcp_state = intern_tcp_state(tcp);

  // Reference d.2: the filled side or sides copy the record; the other side is zero.
  auto& st = e.state;
  st = flow_state{};
  const bool src = !in.needs_correlation || in.from_source;
  const bool dst = !in.needs_correlation || !in.from_source;
  std::uint64_t t = 0, rt = 0;
  if (in.end > in.start) {
    t = in.counters[octet_total] * 8 / (in.end - in.start);
    rt = in.counters[reverse_octet_total] * 8 / (in.end - in.start);
  }
  st.throughput = t;
  st.reverse_throughput = rt;
  if (src) {
    st.source.counters = in.counters;
    st.source.throughput = t;
    st.source.reverse_throughput = rt;
    st.source_end_seconds = in.end;
  }
  if (dst) {
    st.destination.counters = in.counters;
    st.destination.throughput = t;
    st.destination.reverse_throughput = rt;
    st.destination_end_seconds = in.end;
  }
  // Reference b: ready at once without correlation; correlatedFieldsFilled false for
  // an inter-Node (deny) flow that will never be correlated.
  st.ready = !in.needs_correlation;
  st.fields_filled = !in.needs_correlation && in.type != flow_type::inter_node;
  st.updated = true; // HEAD: flows are created with the flag set
  st.stored_side = in.from_source ? 1 : in.from_destination ? 2 : 0;

  e.last_seen = now;
  e.sched_base = now;
  e.sched = st.ready ? sched_due : sched_pending; // v2.7: ready at creation is due now
  sched_push(sched_list(e), id);
  if (wheel_.empty()) {
    wheel_.resize(wheel_size);
    wheel_cursor_ = bucket_of(now);
    wheel_first_ = wheel_cursor_;
  }
  wheel_file(id, now + inactive_ms());
  index_.insert(in.hash, id);
  ++index_changes_;
  ++size_;
  ++stats_.created;
}

add_result flow_table::update(std::uint32_t id, const parsed& in, std::int64_t now) {
  entry& e = at(id);
  auto& st = e.state;
  auto result = add_result::updated;
  // HEAD: every record, out-of-date ones included, marks the flow updated and pushes
  // its inactive deadline (reference e); the wheel finds the new deadline when the old
  // one comes due.
  st.updated = true;
  e.last_seen = now;

  bool src = true, dst = true;
  if (in.needs_correlation) {
    // Reference b: the first record of the other Node correlates a waiting flow; the
    // statistics go to the side the incoming record names.
    const bool same_node =
        (in.from_source && st.stored_side == 1) || (in.from_destination && st.stored_side == 2);
    if (!st.ready && !same_node) {
      correlate(e, in);
      st.ready = true;
      st.correlated = true;
      st.fields_filled = true;
      sched_unlink(pending_, id);
      e.sched = sched_due; // v2.7 #7997: due as soon as it is ready
      e.sched_base = now;
      sched_push(due_, id);
      ++stats_.correlated;
      result = add_result::correlated;
    }
    src = in.from_source;
    dst = !in.from_source;
  }
  if (!aggregate(e, in, src, dst)) {
    ++stats_.out_of_date;
    if (result == add_result::updated)
      result = add_result::out_of_date;
  }
  return result;
}

void flow_table::correlate(entry& e, const parsed& in) {
  const auto& s = *layouts_[e.layout].layout;
  const auto& l = *in.layout;
  const bool same = &s == &l;
  // Trivial, so that the array is not cleared: zeroing 64 spans was a tenth of this
  // function's time (issue 11 profile).
  struct edit {
    std::int16_t rank;
    const std::uint8_t* data;
    std::size_t size;
  };
  std::array<edit, 64> edits;
  std::size_t num_edits = 0;
  // Copies the incoming value of `ref` into the stored record: a fixed-size value into
  // the fixed area (same size only), a string into the new strings.
  auto copy = [&](const element_ref& ref, std::span<const element_ref> in_refs, bool only_set) {
    const field_index j = same ? ref.index : find_element(in_refs, ref.enterprise, ref.id);
    if (j < 0)
      return;
    const bool in_varlen = l.input.fields[static_cast<std::size_t>(j)].is_varlen();
    const auto value = in.value(j);
    if (only_set && !is_set(value, in_varlen))
      return;
    const auto k = static_cast<std::size_t>(ref.index);
    if (s.string_ranks[k] >= 0) {
      if (in_varlen && num_edits < edits.size())
        edits[num_edits++] = {s.string_ranks[k], value.data(), value.size()};
      return;
    }
    // A different size (IPv4 vs IPv6, reduced-size) keeps the stored value.
    if (s.compact_offsets[k] >= 0 && value.size() == s.input.fields[k].length)
      std::memcpy(e.fixed + s.compact_offsets[k], value.data(), value.size());
  };
  // Reference c: the incoming value wins when it is set.
  for (const auto& ref : s.correlated)
    copy(ref, l.correlated, true);
  // Reference c, HEAD: the ingress half of a FromExternal flow restores the external
  // source, the SNAT address and port and the flow type, in either arrival order.
  if (in.ingress_half)
    for (const auto& ref : s.from_external)
      copy(ref, l.from_external, false);
  // Provenance and flowDirection describe the source Node's record (aggregate_layout.hpp).
  if (in.from_source)
    for (const auto& ref : s.source_observation)
      copy(ref, l.source_observation, false);
  if (num_edits == 0)
    return;
  // The new strings: the stored ones with the edited values replaced. The stored
  // strings between two edits are copied as one run, prefixes included (they are the
  // shortest already, compact_record): rewriting every string with its prefix was most
  // of this function's instructions (issue 11, cachegrind).
  std::sort(edits.begin(), edits.begin() + static_cast<std::ptrdiff_t>(num_edits),
            [](const edit& a, const edit& b) { return a.rank < b.rank; });
  const auto old = strings_.get(e.strings);
  strings_buf_.clear();
  std::size_t pos = 0;    // where string `r` of `old` starts (its prefix)
  std::size_t copied = 0; // octets of `old` before this are written or replaced
  std::size_t r = 0;
  for (std::size_t k = 0; k < num_edits; ++k) {
    const auto rank = static_cast<std::size_t>(edits[k].rank);
    if (rank < r || rank >= s.num_strings) // a second edit of one string: the first wins
      continue;
    pos += strings_length(old.subspan(pos), rank - r);
    strings_buf_.insert(strings_buf_.end(), old.begin() + static_cast<std::ptrdiff_t>(copied),
                        old.begin() + static_cast<std::ptrdiff_t>(pos));
    std::uint8_t prefix[3];
    const auto p = ipfix::write_varlen_prefix(prefix, edits[k].size);
    strings_buf_.insert(strings_buf_.end(), prefix, prefix + p);
    strings_buf_.insert(strings_buf_.end(), edits[k].data, edits[k].data + edits[k].size);
    pos += strings_length(old.subspan(pos), 1);
    copied = pos;
    r = rank + 1;
  }
  strings_buf_.insert(strings_buf_.end(), old.begin() + static_cast<std::ptrdiff_t>(copied),
                      old.end());
  const auto merged = strings_.intern(strings_buf_);
  strings_.unref(e.strings);
  e.strings = merged;
}

string_pool::id_type flow_table::intern_tcp_state(ipfix::bytes_view v) {
  if (v.empty())
    return string_pool::empty;
  // The slot tells apart the states of RFC 793 by length and first and last letter.
  const std::size_t slot = (v.size() + v.front() + 3u * v.back()) % tcp_hints_.size();
  return strings_.intern_hinted(v, tcp_hints_[slot]);
}

bool flow_table::aggregate(entry& e, const parsed& in, bool src, bool dst) {
  const auto& s = *layouts_[e.layout].layout;
  auto& st = e.state;
  auto where = [&](field_index i) {
    return e.fixed + s.compact_offsets[static_cast<std::size_t>(i)];
  };

  // Reference d.3 step 1: the latest record by flowEndSeconds (ties: the incoming one).
  const std::uint32_t agg_end =
      s.flow_end_seconds >= 0
          ? ipfix::read_u32(where(s.flow_end_seconds))
          : static_cast<std::uint32_t>(ipfix::read_u64(where(s.flow_end_milliseconds)) / 1000);
  const bool latest = in.end >= agg_end;
  if (latest) {
    if (s.flow_end_seconds >= 0)
      ipfix::write_u32(where(s.flow_end_seconds), in.end);
    if (s.flow_end_milliseconds >= 0)
      ipfix::write_u64(where(s.flow_end_milliseconds), in.end_ms);
  }
  // Step 2: the per-Node end time is overwritten even when it goes down; the first
  // record of a side counts from its flow start.
  std::uint32_t prev = 0;
  if (src) {
    prev = st.source_end_seconds != 0 ? st.source_end_seconds : in.start;
    st.source_end_seconds = in.end;
  }
  if (dst) {
    prev = st.destination_end_seconds != 0 ? st.destination_end_seconds : in.start;
    st.destination_end_seconds = in.end;
  }
  // Step 3: out of date.
  if (in.end <= prev)
    return false;
  const std::uint64_t diff = in.end - prev;
  // Step 4: end of flow (3) sticks.
  if (s.flow_end_reason >= 0 && in.has_reason) {
    auto* p = where(s.flow_end_reason);
    if (*p != end_reason::end_of_flow)
      *p = in.reason;
  }
  // Step 5: tcpState follows the latest record; one without it clears it (HEAD).
  if (latest && s.tcp_state >= 0) {
    const auto v = in.tcp_state;
    if (s.tcp_state_apart) {
      const auto cur = strings_.get(e.tcp_state);
      if (cur.size() != v.size() || !std::equal(cur.begin(), cur.end(), v.begin())) {
        const auto next = intern_tcp_state(v);
        strings_.unref(e.tcp_state);
        e.tcp_state = next;
      }
    } else if (v.size() == s.input.fields[static_cast<std::size_t>(s.tcp_state)].length) {
      std::memcpy(where(s.tcp_state), v.data(), v.size());
    }
  }
  // Step 6: per-Node counters.
  std::uint64_t total_diff = 0, reverse_total_diff = 0;
  auto per_node = [&](node_side& side) {
    total_diff = in.counters[octet_total] - side.counters[octet_total];
    reverse_total_diff = in.counters[reverse_octet_total] - side.counters[reverse_octet_total];
    for (std::size_t c = 0; c < num_counters; ++c)
      side.counters[c] = is_total(c) ? in.counters[c] : side.counters[c] + in.counters[c];
  };
  if (src)
    per_node(st.source);
  if (dst)
    per_node(st.destination);
  // Step 7: common counters, only from the latest record: totals the maximum, deltas
  // the side's accumulated delta (the destination's when both sides are filled).
  if (latest) {
    for (std::size_t c = 0; c < num_counters; ++c) {
      if (s.counters[c] < 0)
        continue;
      auto* p = where(s.counters[c]);
      std::uint64_t v = ipfix::read_u64(p);
      if (src)
        v = is_total(c) ? std::max(v, st.source.counters[c]) : st.source.counters[c];
      if (dst)
        v = is_total(c) ? std::max(v, st.destination.counters[c]) : st.destination.counters[c];
      ipfix::write_u64(p, v);
    }
  }
  // Step 8: throughput from the side's total difference over the time since its last
  // record (unsigned: a decreasing total wraps, as upstream).
  const std::uint64_t t = total_diff * 8 / diff;
  const std::uint64_t rt = reverse_total_diff * 8 / diff;
  if (src) {
    st.source.throughput = t;
    st.source.reverse_throughput = rt;
  }
  if (dst) {
    st.destination.throughput = t;
    st.destination.reverse_throughput = rt;
  }
  if (latest) {
    st.throughput = t;
    st.reverse_throughput = rt;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Export, expiry, removal.

void flow_table::export_flow(std::uint32_t id, export_reason why, flow_sink& sink,
                             std::int64_t due_ms) {
  entry& e = at(id);
  auto v = view(id);
  if (due_ms != 0)
    v.due = clock_type::time_point{std::chrono::milliseconds{due_ms}};
  sink.on_export(v, why);
  ++stats_.exports[static_cast<std::size_t>(why)];
  // Reference d.4: the deltas and throughputs restart after each export.
  const auto& s = *layouts_[e.layout].layout;
  for (std::size_t c = 0; c < num_counters; ++c)
    if (!is_total(c) && s.counters[c] >= 0)
      ipfix::write_u64(e.fixed + s.compact_offsets[static_cast<std::size_t>(s.counters[c])], 0);
  auto& st = e.state;
  for (node_side* side : {&st.source, &st.destination}) {
    for (std::size_t c = 0; c < num_counters; ++c)
      if (!is_total(c))
        side->counters[c] = 0;
    side->throughput = 0;
    side->reverse_throughput = 0;
  }
  st.throughput = 0;
  st.reverse_throughput = 0;
  st.updated = false;
}

void flow_table::give_up(std::uint32_t id, export_reason why, flow_sink& sink,
                         std::int64_t due_ms) {
  if (cfg_.uncorrelated == uncorrelated_policy::export_flow) {
    export_flow(id, why, sink, due_ms);
    ++stats_.uncorrelated_exported;
  } else {
    ++stats_.uncorrelated_dropped;
  }
  remove(id);
}

void flow_table::evict_one(flow_sink& sink) {
  if (size_ == 0)
    return;
  // The flow filed in the earliest bucket whose own deadline is in that bucket: the
  // least recently updated one, to the bucket. Flows updated since they were filed move
  // on to their true bucket on the way.
  const std::int64_t inactive = inactive_ms();
  for (;;) {
    while (wheel_[static_cast<std::size_t>(wheel_first_) & (wheel_size - 1)].head == none)
      ++wheel_first_;
    auto& b = wheel_[static_cast<std::size_t>(wheel_first_) & (wheel_size - 1)];
    const std::uint32_t id = b.head;
    if (bucket_of(at(id).last_seen + inactive) > wheel_first_ &&
        wheel_first_ < wheel_cursor_ + static_cast<std::int64_t>(wheel_size) - 1) {
      wheel_unlink(id);
      wheel_file(id, at(id).last_seen + inactive);
      continue;
    }
    ++stats_.evicted;
    if (!at(id).state.ready) {
      give_up(id, export_reason::evicted, sink);
      return;
    }
    if (at(id).state.updated)
      export_flow(id, export_reason::evicted, sink);
    else
      ++stats_.unchanged;
    remove(id);
    return;
  }
}

void flow_table::remove(std::uint32_t id) {
  entry& e = at(id);
  sched_unlink(sched_list(e), id);
  if (e.wheel_slot != 0xffff)
    wheel_unlink(id);
  index_.erase(key_hash(e.key), id);
  ++index_changes_;
  arena_.release(e.fixed, std::max<std::size_t>(layouts_[e.layout].layout->fixed_size, 1));
  e.fixed = nullptr;
  strings_.unref(e.strings);
  strings_.unref(e.tcp_state);
  release_layout(e.layout);
  e.sched = sched_free;
  e.sched_next = free_ids_;
  free_ids_ = id;
  --size_;
  if (size_ == 0) {
    // An empty table gives its memory back: a burst does not pin it for ever.
    pages_.clear();
    high_water_ = 0;
    free_ids_ = none;
    index_.clear();
    arena_.clear();
    wheel_.clear();
    wheel_.shrink_to_fit();
  }
}

bool flow_table::expire_idle(std::int64_t now, flow_sink& sink, std::size_t& left) {
  if (wheel_.empty())
    return true;
  const std::int64_t inactive = inactive_ms();
  const std::int64_t last = bucket_of(now);
  const std::int64_t first = wheel_cursor_;
  const std::int64_t steps = std::min<std::int64_t>(last - first + 1, wheel_size);
  // Flows filed again below land at or after `last`; each bucket is taken out whole
  // before it is walked, so none is walked twice.
  wheel_cursor_ = std::max(wheel_cursor_, last);
  for (std::int64_t k = 0; k < steps; ++k) {
    auto& b = wheel_[static_cast<std::size_t>(first + k) & (wheel_size - 1)];
    const list_head taken = b;
    std::size_t walked = 0;
    std::uint32_t id = taken.head;
    b = list_head{};
    while (id != none) {
      if (left == 0) {
        // Out of this step's flows: the rest of the bucket goes back in front of what
        // was filed into it meanwhile, and the next step starts from this bucket.
        at(id).wheel_prev = none;
        if (b.head != none) {
          at(taken.tail).wheel_next = b.head;
          at(b.head).wheel_prev = taken.tail;
        } else {
          b.tail = taken.tail;
        }
        b.head = id;
        b.size += taken.size - walked;
        wheel_cursor_ = first + k;
        return false;
      }
      --left;
      ++walked;
      entry& e = at(id);
      const std::uint32_t next = e.wheel_next;
      e.wheel_prev = e.wheel_next = none;
      e.wheel_slot = 0xffff;
      const std::int64_t deadline = e.last_seen + inactive;
      if (deadline > now) {
        wheel_file(id, deadline);
      } else if (!e.state.ready) {
        // A waiting flow is retried, not expired (reference e); it stays filed for
        // eviction order.
        wheel_file(id, now + inactive);
      } else {
        if (e.state.updated)
          export_flow(id, export_reason::inactive, sink, deadline);
        else
          ++stats_.unchanged; // HEAD #8278: nothing new since the last export
        ++stats_.expired;
        remove(id);
        if (wheel_.empty())
          return true; // that was the last flow
      }
      id = next;
    }
  }
  wheel_first_ = std::max(wheel_first_, wheel_cursor_);
  return true;
}

bool flow_table::poll(clock_type::time_point now, flow_sink& sink, std::size_t limit) {
  const std::int64_t n = ms(now);
  const std::int64_t active = active_ms();
  const std::int64_t inactive = inactive_ms();
  std::size_t left = limit;
  // Inactive first: a flow past both deadlines is exported once, then removed.
  if (!expire_idle(n, sink, left))
    return false;
  // Active timeout: the next deadline counts from now (reference e: as upstream).
  while (active_.head != none && at(active_.head).sched_base + active <= n) {
    if (left-- == 0)
      return false;
    const std::uint32_t id = active_.head;
    if (at(id).state.updated)
      export_flow(id, export_reason::active, sink, at(id).sched_base + active);
    else
      ++stats_.unchanged;
    sched_unlink(active_, id);
    at(id).sched_base = n;
    sched_push(active_, id);
  }
  // v2.7: a flow is exported at the first poll after it became ready.
  while (due_.head != none) {
    if (left-- == 0)
      return false;
    const std::uint32_t id = due_.head;
    if (at(id).state.updated)
      export_flow(id, export_reason::ready, sink, at(id).sched_base);
    else
      ++stats_.unchanged;
    sched_unlink(due_, id);
    at(id).sched = sched_active;
    at(id).sched_base = n;
    sched_push(active_, id);
  }
  // Waiting flows: retried at each expiry, given up after max_retries (reference e).
  const std::int64_t retry = std::min(active, inactive);
  while (pending_.head != none && at(pending_.head).sched_base + retry <= n) {
    if (left-- == 0)
      return false;
    const std::uint32_t id = pending_.head;
    if (++at(id).state.retries > max_retries) {
      ++stats_.abandoned;
      give_up(id, export_reason::uncorrelated, sink, at(id).sched_base + retry);
      continue;
    }
    sched_unlink(pending_, id);
    at(id).sched_base = n;
    sched_push(pending_, id);
  }
  while (size_ > cfg_.max_flows) {
    if (left-- == 0)
      return false;
    evict_one(sink);
  }
  return true;
}

void flow_table::drain(flow_sink& sink) {
  stats_.drained += size_;
  for (auto* l : {&due_, &active_}) {
    while (l->head != none) {
      const std::uint32_t id = l->head;
      if (at(id).state.updated)
        export_flow(id, export_reason::shutdown, sink);
      else
        ++stats_.unchanged;
      remove(id);
    }
  }
  while (pending_.head != none)
    give_up(pending_.head, export_reason::shutdown, sink);
}

std::optional<clock_type::time_point> flow_table::next_due() const {
  if (size_ == 0)
    return std::nullopt;
  std::int64_t t = INT64_MAX;
  if (due_.head != none)
    t = std::min(t, at(due_.head).sched_base);
  if (active_.head != none)
    t = std::min(t, at(active_.head).sched_base + active_ms());
  if (pending_.head != none)
    t = std::min(t, at(pending_.head).sched_base + std::min(active_ms(), inactive_ms()));
  // Inactivity: the start of the earliest bucket holding a flow.
  for (std::int64_t b = wheel_first_; b < wheel_cursor_ + static_cast<std::int64_t>(wheel_size);
       ++b) {
    if (wheel_[static_cast<std::size_t>(b) & (wheel_size - 1)].head != none) {
      t = std::min(t, b * bucket_ms);
      break;
    }
  }
  if (size_ > cfg_.max_flows)
    t = std::min<std::int64_t>(t, 0);
  return clock_type::time_point{
      std::chrono::duration_cast<clock_type::duration>(std::chrono::milliseconds{t})};
}

flow_table_stats flow_table::stats() const {
  flow_table_stats s = stats_;
  s.flows = size_;
  s.pending = pending_.size;
  s.strings = strings_.size();
  s.state_bytes = pages_.size() * page_size * sizeof(entry) + index_.memory_bytes() +
                  arena_.reserved_bytes() + strings_.memory_bytes() +
                  wheel_.capacity() * sizeof(list_head) +
                  layouts_.capacity() * sizeof(layout_slot) + sizeof(*this);
  return s;
}

std::optional<flow_view> flow_table::find(const flow_key& key) const {
  auto id = lookup(key, key_hash(key));
  if (id == none)
    return std::nullopt;
  return view(id);
}

flow_view flow_table::view(std::uint32_t id) const {
  const entry& e = at(id);
  flow_view v;
  v.key = &e.key;
  v.layout = layouts_[e.layout].layout;
  v.fixed = {e.fixed, v.layout->fixed_size};
  v.strings = strings_.get(e.strings);
  v.tcp_state = strings_.get(e.tcp_state);
  v.state = &e.state;
  v.last_seen = clock_type::time_point{
      std::chrono::duration_cast<clock_type::duration>(std::chrono::milliseconds{e.last_seen})};
  return v;
}

bool flow_table::matches(std::uint32_t id, const flow_filter& f) const {
  const entry& e = at(id);
  if (e.sched == sched_free)
    return false;
  if (f.ip && *f.ip != e.key.source && *f.ip != e.key.destination)
    return false;
  if (f.port && *f.port != e.key.source_port && *f.port != e.key.destination_port)
    return false;
  return true;
}

// ---------------------------------------------------------------------------------------
// Entries, intrusive lists, the wheel.

std::uint32_t flow_table::allocate_entry() {
  if (free_ids_ != none) {
    const std::uint32_t id = free_ids_;
    free_ids_ = at(id).sched_next;
    at(id) = entry{};
    return id;
  }
  if ((high_water_ >> page_bits) == pages_.size())
    pages_.push_back(std::make_unique<entry[]>(page_size));
  return high_water_++;
}

flow_table::entry& flow_table::at(std::uint32_t id) {
  return pages_[id >> page_bits][id & (page_size - 1)];
}

const flow_table::entry& flow_table::at(std::uint32_t id) const {
  return pages_[id >> page_bits][id & (page_size - 1)];
}

flow_table::list_head& flow_table::sched_list(const entry& e) {
  switch (e.sched) {
  case sched_pending:
    return pending_;
  case sched_due:
    return due_;
  default:
    return active_;
  }
}

template <auto Prev, auto Next>
void flow_table::push_back(list_head& l, std::uint32_t id) {
  entry& e = at(id);
  e.*Prev = l.tail;
  e.*Next = none;
  if (l.tail != none)
    at(l.tail).*Next = id;
  else
    l.head = id;
  l.tail = id;
  ++l.size;
}

template <auto Prev, auto Next>
void flow_table::unlink(list_head& l, std::uint32_t id) {
  entry& e = at(id);
  if (e.*Prev != none)
    at(e.*Prev).*Next = e.*Next;
  else
    l.head = e.*Next;
  if (e.*Next != none)
    at(e.*Next).*Prev = e.*Prev;
  else
    l.tail = e.*Prev;
  e.*Prev = e.*Next = none;
  --l.size;
}

void flow_table::sched_push(list_head& l, std::uint32_t id) {
  push_back<&entry::sched_prev, &entry::sched_next>(l, id);
}

void flow_table::sched_unlink(list_head& l, std::uint32_t id) {
  unlink<&entry::sched_prev, &entry::sched_next>(l, id);
}

void flow_table::wheel_file(std::uint32_t id, std::int64_t deadline) {
  // Never before the cursor, never beyond the wheel's span (filed again from there).
  const std::int64_t b = std::clamp(bucket_of(deadline), wheel_cursor_,
                                    wheel_cursor_ + static_cast<std::int64_t>(wheel_size) - 1);
  wheel_first_ = std::min(wheel_first_, b);
  const auto slot = static_cast<std::uint16_t>(static_cast<std::size_t>(b) & (wheel_size - 1));
  at(id).wheel_slot = slot;
  push_back<&entry::wheel_prev, &entry::wheel_next>(wheel_[slot], id);
}

void flow_table::wheel_unlink(std::uint32_t id) {
  entry& e = at(id);
  unlink<&entry::wheel_prev, &entry::wheel_next>(wheel_[e.wheel_slot], id);
  e.wheel_slot = 0xffff;
}

void flow_table::wheel_refile_all() {
  const std::int64_t inactive = inactive_ms();
  for (std::uint32_t id = 0; id < high_water_; ++id) {
    if (at(id).sched == sched_free)
      continue;
    wheel_unlink(id);
    wheel_file(id, at(id).last_seen + inactive);
  }
}

// ---------------------------------------------------------------------------------------
// Layouts: a flow names its stored record's layout by a 16-bit slot, held while any
// flow uses it.

std::uint16_t flow_table::use_layout(const aggregate_layout_ptr& layout) {
  if (layout.get() == last_layout_)
    return last_slot_;
  std::size_t free_slot = layouts_.size();
  for (std::size_t i = 0; i < layouts_.size(); ++i) {
    if (layouts_[i].layout == layout) {
      free_slot = i;
      break;
    }
    if (!layouts_[i].layout && free_slot == layouts_.size())
      free_slot = i;
  }
  if (free_slot == layouts_.size()) {
    if (layouts_.size() >= 0xffff)
      return 0xffff;
    layouts_.emplace_back();
  }
  auto& slot = layouts_[free_slot];
  if (!slot.layout)
    slot.layout = layout;
  last_layout_ = layout.get();
  last_slot_ = static_cast<std::uint16_t>(free_slot);
  return last_slot_;
}

void flow_table::release_layout(std::uint16_t slot) {
  auto& s = layouts_[slot];
  if (--s.flows > 0)
    return;
  if (s.layout.get() == last_layout_)
    last_layout_ = nullptr;
  s.layout.reset();
}

} // namespace fa::flows
