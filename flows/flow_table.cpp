#include "flows/flow_table.hpp"

#include "ipfix/message.hpp"
#include "ipfix/wire.hpp"

#include <algorithm>
#include <cstring>

namespace fa::flows {

namespace {

constexpr std::uint64_t empty_slot = ~std::uint64_t{0};
constexpr std::size_t page_bits = 12;
constexpr std::size_t page_size = std::size_t{1} << page_bits;
constexpr std::uint16_t no_tcp_state = 0xffff;

enum sched_kind : std::uint8_t { sched_free, sched_pending, sched_due, sched_active };

/// Reference c: a value is "set" when it is a non-empty string or has a non-zero octet
/// (integers, addresses, UUIDs).
bool is_set(ipfix::bytes_view v, bool varlen) {
  if (varlen)
    return !v.empty();
  return std::any_of(v.begin(), v.end(), [](std::uint8_t b) { return b != 0; });
}

bool is_zero(const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != 0)
      return false;
  return true;
}

/// Octets of a variable-length value with its shortest prefix (RFC 7011 7).
std::size_t varlen_size(std::size_t n) {
  return n + (n < 255 ? 1 : 3);
}

constexpr bool is_total(std::size_t c) {
  return c == packet_total || c == octet_total || c == reverse_packet_total ||
         c == reverse_octet_total;
}

} // namespace

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

/// One flow. Fixed size, in pages; the stored record lives in the arena.
struct flow_table::entry {
  flow_key key;
  std::uint16_t layout = 0; ///< slot in layouts_
  std::uint32_t sched_prev = none;
  std::uint32_t sched_next = none; ///< also links free entries
  std::uint32_t idle_prev = none;
  std::uint32_t idle_next = none;
  std::int64_t sched_base = 0; ///< pending: created or last retried; due: became ready;
                               ///< active: last exported
  std::int64_t last_seen = 0;  ///< last record added
  std::uint8_t* record = nullptr;
  std::uint16_t record_length = 0;
  std::uint16_t split = 0;
  std::uint16_t tcp_offset = no_tcp_state; ///< tcpState's value in the stored record
  std::uint16_t tcp_length = 0;
  std::uint8_t sched = sched_free;
  flow_state state;
};

/// One incoming record, read once.
struct flow_table::parsed {
  const aggregate_layout* layout = nullptr;
  ipfix::bytes_view rec;
  std::span<const ipfix::field_slice> fields; ///< its variable-length fields
  flow_key key;
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
  const std::uint8_t* at(field_index i) const { return rec.data() + slice(i).offset; }
  ipfix::bytes_view value(field_index i) const {
    auto s = slice(i);
    return rec.subspan(s.offset, s.length);
  }
};

flow_table::flow_table(flow_table_config cfg) {
  reconfigure(cfg);
}

flow_table::~flow_table() = default;

void flow_table::reconfigure(const flow_table_config& cfg) {
  cfg_ = cfg;
  // A zero timeout would make poll's loops re-queue a flow at the deadline it just met.
  cfg_.active_timeout =
      std::max<clock_type::duration>(cfg_.active_timeout, std::chrono::milliseconds{1});
  cfg_.inactive_timeout =
      std::max<clock_type::duration>(cfg_.inactive_timeout, std::chrono::milliseconds{1});
  cfg_.max_flows = std::max<std::size_t>(cfg_.max_flows, 1);
}

std::int64_t flow_table::ms(clock_type::time_point t) const {
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

std::size_t flow_table::add_set(const aggregate_layout_ptr& layout, ipfix::bytes_view body,
                                clock_type::time_point now, flow_sink& sink) {
  ipfix::record_cursor cursor(body, layout->record);
  ipfix::bytes_view rec;
  std::size_t n = 0;
  while (cursor.next(rec)) {
    add(layout, rec, now, sink);
    ++n;
  }
  if (cursor.error() != ipfix::parse_error::none) {
    ++stats_.records;
    ++stats_.malformed;
  }
  return n;
}

add_result flow_table::add(const aggregate_layout_ptr& layout, ipfix::bytes_view record,
                           clock_type::time_point now, flow_sink& sink) {
  ++stats_.records;
  const auto& l = *layout;
  if (!l.aggregatable) {
    ++stats_.not_aggregatable;
    return add_result::not_aggregatable;
  }
  parsed in;
  if (!parse(l, record, in)) {
    ++stats_.malformed;
    return add_result::malformed;
  }
  const std::int64_t n = ms(now);
  const std::uint64_t h = hash(in.key);
  if (auto id = lookup(in.key, h); id != none)
    return update(id, in, n);
  // The aggregate record adds the aggregation block; it must still fit a set.
  if (record.size() + aggregation_block_size > ipfix::max_record_length) {
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
  create(slot, in, h, n);
  return add_result::created;
}

bool flow_table::parse(const aggregate_layout& l, ipfix::bytes_view record, parsed& in) {
  const std::size_t nv = l.record.num_varlen();
  if (in_fields_.size() < nv)
    in_fields_.resize(nv);
  std::span<ipfix::field_slice> fields{in_fields_.data(), nv};
  ipfix::parse_error err = ipfix::parse_error::none;
  if (l.record.walk_varlen(record, fields, err) != record.size() || record.empty())
    return false;
  in.layout = &l;
  in.rec = record;
  in.fields = fields;

  // Reference a: IPv4 when the template has both IPv4 addresses (v2.3; the IPv6 pair
  // when the IPv4 pair is unset and the template has both families).
  bool v4 = l.source_ipv4 >= 0 && l.destination_ipv4 >= 0;
  if (v4 && l.source_ipv6 >= 0 && l.destination_ipv6 >= 0 && is_zero(in.at(l.source_ipv4), 4) &&
      is_zero(in.at(l.destination_ipv4), 4))
    v4 = false;
  if (v4) {
    in.key.source = ipv4_address(in.at(l.source_ipv4));
    in.key.destination = ipv4_address(in.at(l.destination_ipv4));
  } else {
    in.key.source = ipv6_address(in.at(l.source_ipv6));
    in.key.destination = ipv6_address(in.at(l.destination_ipv6));
  }
  in.key.source_port = ipfix::read_u16(in.at(l.source_port));
  in.key.destination_port = ipfix::read_u16(in.at(l.destination_port));
  in.key.protocol = *in.at(l.protocol);

  in.type = *in.at(l.flow_type);
  if (l.ingress_rule_action >= 0)
    in.ingress_action = *in.at(l.ingress_rule_action);
  if (l.egress_rule_action >= 0)
    in.egress_action = *in.at(l.egress_rule_action);
  if (l.flow_end_reason >= 0) {
    in.reason = *in.at(l.flow_end_reason);
    in.has_reason = true;
  }
  in.src_named = l.source_pod_name >= 0 && in.slice(l.source_pod_name).length > 0;
  in.dst_named = l.destination_pod_name >= 0 && in.slice(l.destination_pod_name).length > 0;

  // Reference a, HEAD: the ingress half of an inter-Node FromExternal flow is keyed on
  // the proxy SNAT address and port, which is the destination Node's natural key.
  if (in.type == flow_type::from_external && !in.dst_named && l.proxy_snat_port >= 0) {
    const std::uint8_t* snat = nullptr;
    bool snat_v4 = false;
    if (l.proxy_snat_ipv4 >= 0 && !is_zero(in.at(l.proxy_snat_ipv4), 4)) {
      snat = in.at(l.proxy_snat_ipv4);
      snat_v4 = true;
    } else if (l.proxy_snat_ipv6 >= 0 && !is_zero(in.at(l.proxy_snat_ipv6), 16)) {
      snat = in.at(l.proxy_snat_ipv6);
    }
    if (snat) {
      in.ingress_half = true;
      in.key.source = snat_v4 ? ipv4_address(snat) : ipv6_address(snat);
      in.key.source_port = ipfix::read_u16(in.at(l.proxy_snat_port));
    }
  }
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
    if (l.counters[c] >= 0)
      in.counters[c] = ipfix::read_u64(in.at(l.counters[c]));
  if (l.tcp_state >= 0)
    in.tcp_state = in.value(l.tcp_state);
  return true;
}

void flow_table::create(std::uint16_t slot, const parsed& in, std::uint64_t h, std::int64_t now) {
  const auto& l = *in.layout;
  const std::uint32_t id = allocate_entry();
  entry& e = at(id);
  e.key = in.key;
  e.layout = slot;
  ++layouts_[slot].flows;
  e.record_length = static_cast<std::uint16_t>(in.rec.size());
  e.record = arena_.allocate(in.rec.size());
  std::memcpy(e.record, in.rec.data(), in.rec.size());
  if (l.agent_fields == 0) {
    e.split = 0;
  } else {
    auto last = in.slice(static_cast<field_index>(l.agent_fields - 1));
    e.split = static_cast<std::uint16_t>(last.offset + last.length);
  }
  if (l.tcp_state >= 0) {
    auto s = in.slice(l.tcp_state);
    e.tcp_offset = s.offset;
    e.tcp_length = s.length;
  } else {
    e.tcp_offset = no_tcp_state;
    e.tcp_length = 0;
  }

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
  if (st.ready) {
    e.sched = sched_due; // v2.7: a flow ready at creation is due now
    sched_push(due_, id);
    idle_push(idle_ready_, id);
  } else {
    e.sched = sched_pending;
    sched_push(pending_, id);
    idle_push(idle_pending_, id);
  }
  index_insert(id, h);
  ++size_;
  ++stats_.created;
}

add_result flow_table::update(std::uint32_t id, const parsed& in, std::int64_t now) {
  entry& e = at(id);
  auto& st = e.state;
  auto result = add_result::updated;
  // HEAD: every record, out-of-date ones included, marks the flow updated and pushes
  // its inactive deadline (reference e).
  st.updated = true;
  e.last_seen = now;
  auto& idle = idle_list(e);
  idle_unlink(idle, id);
  idle_push(idle, id);

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
      idle_unlink(idle_pending_, id);
      e.sched = sched_due; // v2.7 #7997: due as soon as it is ready
      e.sched_base = now;
      sched_push(due_, id);
      idle_push(idle_ready_, id);
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

void flow_table::walk_stored(const entry& e) {
  const auto& s = *layouts_[e.layout].layout;
  const std::size_t nv = s.record.num_varlen();
  if (stored_fields_.size() < nv)
    stored_fields_.resize(nv);
  ipfix::parse_error err = ipfix::parse_error::none;
  // The stored record was accepted when it was added: the walk cannot fail.
  s.record.walk_varlen({e.record, e.record_length}, {stored_fields_.data(), nv}, err);
}

ipfix::field_slice flow_table::stored_slice(const entry& e, const aggregate_layout& s,
                                            field_index i, bool& walked) {
  const auto k = static_cast<std::size_t>(i);
  if (s.fixed_offsets[k] >= 0)
    return {static_cast<std::uint16_t>(s.fixed_offsets[k]), s.input.fields[k].length};
  if (!walked) {
    walk_stored(e);
    walked = true;
  }
  return s.record.located(k, {stored_fields_.data(), s.record.num_varlen()});
}

void flow_table::correlate(entry& e, const parsed& in) {
  const auto& s = *layouts_[e.layout].layout;
  const auto& l = *in.layout;
  const bool same = &s == &l;
  bool walked = false;
  std::array<edit, 64> edits;
  std::size_t num_edits = 0;
  // Copies the incoming value of `ref` into the stored record: fixed-size values in
  // place (same size only), variable-length ones through `rewrite`.
  auto copy = [&](const element_ref& ref, std::span<const element_ref> in_refs, bool only_set) {
    const field_index j = same ? ref.index : find_element(in_refs, ref.enterprise, ref.id);
    if (j < 0)
      return;
    const auto& in_spec = l.input.fields[static_cast<std::size_t>(j)];
    const auto value = in.value(j);
    if (only_set && !is_set(value, in_spec.is_varlen()))
      return;
    const auto& spec = s.input.fields[static_cast<std::size_t>(ref.index)];
    if (spec.is_varlen()) {
      if (num_edits < edits.size())
        edits[num_edits++] = {ref.index, value};
      return;
    }
    if (value.size() != spec.length)
      return; // a different size (IPv4 vs IPv6, reduced-size): the stored value stays
    auto at = stored_slice(e, s, ref.index, walked);
    std::memcpy(e.record + at.offset, value.data(), value.size());
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
  if (num_edits > 0) {
    // `correlated` is in template order only by accident; rewrite wants field order.
    std::sort(edits.begin(), edits.begin() + static_cast<std::ptrdiff_t>(num_edits),
              [](const edit& a, const edit& b) { return a.index < b.index; });
    rewrite(e, {edits.data(), num_edits});
  }
}

void flow_table::rewrite(entry& e, std::span<const edit> edits) {
  const auto& s = *layouts_[e.layout].layout;
  walk_stored(e);
  const std::span<const ipfix::field_slice> fields{stored_fields_.data(), s.record.num_varlen()};
  auto end_of = [&](field_index i) {
    auto f = s.record.located(static_cast<std::size_t>(i), fields);
    return std::size_t{f.offset} + f.length;
  };
  std::size_t size = e.record_length;
  for (const auto& ed : edits) {
    const std::size_t start = ed.index == 0 ? 0 : end_of(static_cast<field_index>(ed.index - 1));
    size = size - (end_of(ed.index) - start) + varlen_size(ed.value.size());
  }
  // Strings from two records could in theory outgrow a set: keep the stored values then.
  if (size + aggregation_block_size > ipfix::max_record_length)
    return;
  rewrite_buf_.resize(size);
  std::uint8_t* out = rewrite_buf_.data();
  std::size_t pos = 0;
  for (const auto& ed : edits) {
    const std::size_t start = ed.index == 0 ? 0 : end_of(static_cast<field_index>(ed.index - 1));
    std::memcpy(out, e.record + pos, start - pos);
    out += start - pos;
    out += ipfix::write_varlen_prefix(out, ed.value.size());
    if (!ed.value.empty())
      std::memcpy(out, ed.value.data(), ed.value.size());
    out += ed.value.size();
    pos = end_of(ed.index);
  }
  std::memcpy(out, e.record + pos, e.record_length - pos);
  if (size != e.record_length) {
    arena_.release(e.record, e.record_length);
    e.record = arena_.allocate(size);
    e.record_length = static_cast<std::uint16_t>(size);
  }
  std::memcpy(e.record, rewrite_buf_.data(), size);
  // Where the agent's fields end and tcpState lies moved with the new lengths.
  walk_stored(e);
  if (s.agent_fields > 0)
    e.split = static_cast<std::uint16_t>(end_of(static_cast<field_index>(s.agent_fields - 1)));
  if (s.tcp_state >= 0) {
    auto t = s.record.located(static_cast<std::size_t>(s.tcp_state), fields);
    e.tcp_offset = t.offset;
    e.tcp_length = t.length;
  }
}

bool flow_table::aggregate(entry& e, const parsed& in, bool src, bool dst) {
  const auto& s = *layouts_[e.layout].layout;
  auto& st = e.state;
  bool walked = false;
  auto where = [&](field_index i) { return e.record + stored_slice(e, s, i, walked).offset; };

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
  if (latest && e.tcp_offset != no_tcp_state) {
    const auto v = in.tcp_state;
    if (v.size() != e.tcp_length || std::memcmp(e.record + e.tcp_offset, v.data(), v.size()) != 0) {
      if (v.size() == e.tcp_length) {
        std::memcpy(e.record + e.tcp_offset, v.data(), v.size());
      } else if (s.input.fields[static_cast<std::size_t>(s.tcp_state)].is_varlen()) {
        const edit ed{s.tcp_state, v};
        rewrite(e, {&ed, 1});
        walked = false; // the stored record moved
      }
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
      for (const node_side* side : {src ? &st.source : nullptr, dst ? &st.destination : nullptr}) {
        if (!side)
          continue;
        v = is_total(c) ? std::max(v, side->counters[c]) : side->counters[c];
      }
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

void flow_table::export_flow(std::uint32_t id, export_reason why, flow_sink& sink) {
  entry& e = at(id);
  sink.on_export(view(id), why);
  ++stats_.exports[static_cast<std::size_t>(why)];
  // Reference d.4: the deltas and throughputs restart after each export.
  const auto& s = *layouts_[e.layout].layout;
  bool walked = false;
  for (std::size_t c = 0; c < num_counters; ++c)
    if (!is_total(c) && s.counters[c] >= 0)
      ipfix::write_u64(e.record + stored_slice(e, s, s.counters[c], walked).offset, 0);
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

void flow_table::give_up(std::uint32_t id, export_reason why, flow_sink& sink) {
  if (cfg_.uncorrelated == uncorrelated_policy::export_flow) {
    export_flow(id, why, sink);
    ++stats_.uncorrelated_exported;
  } else {
    ++stats_.uncorrelated_dropped;
  }
  remove(id);
}

void flow_table::evict_one(flow_sink& sink) {
  // The flow whose last record is the oldest, ready or waiting.
  std::uint32_t id = idle_ready_.head;
  if (id == none ||
      (idle_pending_.head != none && at(idle_pending_.head).last_seen < at(id).last_seen))
    id = idle_pending_.head;
  if (id == none)
    return;
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
}

void flow_table::remove(std::uint32_t id) {
  entry& e = at(id);
  sched_unlink(sched_list(e), id);
  idle_unlink(idle_list(e), id);
  index_erase(e.key, hash(e.key), id);
  arena_.release(e.record, e.record_length);
  e.record = nullptr;
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
    index_.shrink_to_fit();
    index_mask_ = 0;
    arena_.clear();
  }
}

void flow_table::poll(clock_type::time_point now, flow_sink& sink) {
  const std::int64_t n = ms(now);
  const std::int64_t active = active_ms();
  const std::int64_t inactive = inactive_ms();
  // Inactive first: a flow past both deadlines is exported once, then removed.
  while (idle_ready_.head != none && at(idle_ready_.head).last_seen + inactive <= n) {
    const std::uint32_t id = idle_ready_.head;
    if (at(id).state.updated)
      export_flow(id, export_reason::inactive, sink);
    else
      ++stats_.unchanged; // HEAD #8278: nothing new since the last export
    ++stats_.expired;
    remove(id);
  }
  // Active timeout: the next deadline counts from now (reference e: as upstream).
  while (active_.head != none && at(active_.head).sched_base + active <= n) {
    const std::uint32_t id = active_.head;
    if (at(id).state.updated)
      export_flow(id, export_reason::active, sink);
    else
      ++stats_.unchanged;
    sched_unlink(active_, id);
    at(id).sched_base = n;
    sched_push(active_, id);
  }
  // v2.7: a flow is exported at the first poll after it became ready.
  while (due_.head != none) {
    const std::uint32_t id = due_.head;
    if (at(id).state.updated)
      export_flow(id, export_reason::ready, sink);
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
    const std::uint32_t id = pending_.head;
    if (++at(id).state.retries > max_retries) {
      give_up(id, export_reason::uncorrelated, sink);
      continue;
    }
    sched_unlink(pending_, id);
    at(id).sched_base = n;
    sched_push(pending_, id);
  }
  while (size_ > cfg_.max_flows)
    evict_one(sink);
}

void flow_table::drain(flow_sink& sink) {
  while (idle_ready_.head != none) {
    const std::uint32_t id = idle_ready_.head;
    if (at(id).state.updated)
      export_flow(id, export_reason::shutdown, sink);
    else
      ++stats_.unchanged;
    remove(id);
  }
  while (idle_pending_.head != none)
    give_up(idle_pending_.head, export_reason::shutdown, sink);
}

std::optional<clock_type::time_point> flow_table::next_due() const {
  if (size_ == 0)
    return std::nullopt;
  std::int64_t t = INT64_MAX;
  if (due_.head != none)
    t = std::min(t, at(due_.head).sched_base);
  if (idle_ready_.head != none)
    t = std::min(t, at(idle_ready_.head).last_seen + inactive_ms());
  if (active_.head != none)
    t = std::min(t, at(active_.head).sched_base + active_ms());
  if (pending_.head != none)
    t = std::min(t, at(pending_.head).sched_base + std::min(active_ms(), inactive_ms()));
  if (size_ > cfg_.max_flows)
    t = INT64_MIN / 2;
  return clock_type::time_point{
      std::chrono::duration_cast<clock_type::duration>(std::chrono::milliseconds{t})};
}

flow_table_stats flow_table::stats() const {
  flow_table_stats s = stats_;
  s.flows = size_;
  s.pending = pending_.size;
  s.state_bytes = pages_.size() * page_size * sizeof(entry) +
                  index_.capacity() * sizeof(std::uint64_t) + arena_.reserved_bytes() +
                  layouts_.capacity() * sizeof(layout_slot) + sizeof(*this);
  return s;
}

std::optional<flow_view> flow_table::find(const flow_key& key) const {
  auto id = lookup(key, hash(key));
  if (id == none)
    return std::nullopt;
  return view(id);
}

flow_view flow_table::view(std::uint32_t id) const {
  const entry& e = at(id);
  flow_view v;
  v.key = &e.key;
  v.layout = layouts_[e.layout].layout;
  v.record = {e.record, e.record_length};
  v.split = e.split;
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
// The index: slots hold (low 32 bits of the hash << 32) | id. The low bits also pick the
// home slot, so growing needs no entry.

std::uint32_t flow_table::lookup(const flow_key& key, std::uint64_t h) const {
  if (index_.empty())
    return none;
  const std::uint32_t tag = static_cast<std::uint32_t>(h);
  for (std::size_t i = h & index_mask_;; i = (i + 1) & index_mask_) {
    const std::uint64_t s = index_[i];
    if (s == empty_slot)
      return none;
    const auto id = static_cast<std::uint32_t>(s);
    if (static_cast<std::uint32_t>(s >> 32) == tag && at(id).key == key)
      return id;
  }
}

void flow_table::index_insert(std::uint32_t id, std::uint64_t h) {
  // At most 3/4 full: linear probing stays short.
  if ((size_ + 1) * 4 > index_.size() * 3)
    grow_index();
  std::size_t i = h & index_mask_;
  while (index_[i] != empty_slot)
    i = (i + 1) & index_mask_;
  index_[i] = (h << 32) | id;
}

void flow_table::index_erase(const flow_key& key, std::uint64_t h, std::uint32_t id) {
  (void)key;
  std::size_t i = h & index_mask_;
  while (static_cast<std::uint32_t>(index_[i]) != id)
    i = (i + 1) & index_mask_;
  // Backward-shift deletion: later entries of the run move into the hole when their
  // home slot does not lie cyclically in (hole, their slot].
  for (std::size_t j = (i + 1) & index_mask_;; j = (j + 1) & index_mask_) {
    const std::uint64_t s = index_[j];
    if (s == empty_slot)
      break;
    const std::size_t home = (s >> 32) & index_mask_;
    const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays)
      continue;
    index_[i] = s;
    i = j;
  }
  index_[i] = empty_slot;
}

void flow_table::grow_index() {
  const std::size_t cap = index_.empty() ? 16 : index_.size() * 2;
  std::vector<std::uint64_t> old(cap, empty_slot);
  old.swap(index_);
  index_mask_ = cap - 1;
  for (const std::uint64_t s : old) {
    if (s == empty_slot)
      continue;
    std::size_t i = (s >> 32) & index_mask_;
    while (index_[i] != empty_slot)
      i = (i + 1) & index_mask_;
    index_[i] = s;
  }
}

// ---------------------------------------------------------------------------------------
// Entries and intrusive lists.

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

flow_table::list_head& flow_table::idle_list(const entry& e) {
  return e.state.ready ? idle_ready_ : idle_pending_;
}

void flow_table::sched_push(list_head& l, std::uint32_t id) {
  entry& e = at(id);
  e.sched_prev = l.tail;
  e.sched_next = none;
  if (l.tail != none)
    at(l.tail).sched_next = id;
  else
    l.head = id;
  l.tail = id;
  ++l.size;
}

void flow_table::sched_unlink(list_head& l, std::uint32_t id) {
  entry& e = at(id);
  if (e.sched_prev != none)
    at(e.sched_prev).sched_next = e.sched_next;
  else
    l.head = e.sched_next;
  if (e.sched_next != none)
    at(e.sched_next).sched_prev = e.sched_prev;
  else
    l.tail = e.sched_prev;
  e.sched_prev = e.sched_next = none;
  --l.size;
}

void flow_table::idle_push(list_head& l, std::uint32_t id) {
  entry& e = at(id);
  e.idle_prev = l.tail;
  e.idle_next = none;
  if (l.tail != none)
    at(l.tail).idle_next = id;
  else
    l.head = id;
  l.tail = id;
  ++l.size;
}

void flow_table::idle_unlink(list_head& l, std::uint32_t id) {
  entry& e = at(id);
  if (e.idle_prev != none)
    at(e.idle_prev).idle_next = e.idle_next;
  else
    l.head = e.idle_next;
  if (e.idle_next != none)
    at(e.idle_next).idle_prev = e.idle_prev;
  else
    l.tail = e.idle_prev;
  e.idle_prev = e.idle_next = none;
  --l.size;
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
