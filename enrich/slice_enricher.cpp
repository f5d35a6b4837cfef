#include "enrich/slice_enricher.hpp"

#include "ipfix/record.hpp"
#include "ipfix/wire.hpp"

#include <array>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <string_view>
#include <utility>

namespace fa::enrich {

namespace {

constexpr std::uint8_t flow_type_inter_node = 2;
constexpr std::uint8_t flow_type_to_external = 3;
constexpr std::uint8_t flow_type_from_external = 4;

void put_varlen(std::vector<std::uint8_t>& out, std::string_view s) {
  std::uint8_t prefix[3];
  auto n = ipfix::write_varlen_prefix(prefix, s.size());
  out.insert(out.end(), prefix, prefix + n);
  out.insert(out.end(), s.begin(), s.end());
}

std::uint8_t* put_varlen(std::uint8_t* out, std::string_view s) {
  out += ipfix::write_varlen_prefix(out, s.size());
  if (!s.empty()) // memcpy from an empty view's null pointer is undefined
    std::memcpy(out, s.data(), s.size());
  return out + s.size();
}

/// Octets of the prefix of a variable-length value of `n` octets (RFC 7011 7), as
/// `ipfix::write_varlen_prefix` writes it.
std::size_t prefix_size(std::size_t n) {
  return n < 255 ? 1 : 3;
}

/// Octets of a variable-length value of `n` octets with its prefix (RFC 7011 7).
std::size_t varlen_size(std::size_t n) {
  return n + prefix_size(n);
}

/// Where a value of `n` octets whose prefix starts at `at` lies (RFC 7011 7).
ipfix::field_slice value_at(std::size_t at, std::size_t n) {
  return {static_cast<std::uint16_t>(at + prefix_size(n)), static_cast<std::uint16_t>(n)};
}

/// The fields that are the same for every record of one slice: clusterId, 405, 403, 404,
/// into `out` (cleared first).
void constant_block(const messages::template_plan& plan, const messages::session_info& session,
                    const enrichment_options& opts, std::vector<std::uint8_t>& out) {
  out.clear();
  auto& a = plan.append;
  if (a.cluster_id)
    put_varlen(out, opts.cluster_id);
  if (a.original_odid) {
    std::uint8_t b[4];
    ipfix::write_u32(b, plan.odid);
    out.insert(out.end(), b, b + 4);
  }
  // antrea-proxy-semantics.md 2: 0.0.0.0 for an IPv6 exporter, :: for an IPv4 one.
  if (a.original_ipv4) {
    if (session.peer_is_v4)
      out.insert(out.end(), session.peer_v4(), session.peer_v4() + 4);
    else
      out.insert(out.end(), 4, 0);
  }
  if (a.original_ipv6) {
    if (session.peer_is_v4)
      out.insert(out.end(), 16, 0);
    else
      out.insert(out.end(), session.peer_v6.begin(), session.peer_v6.end());
  }
}

/// Where one field of a template lies in a record, from the record's variable-length
/// values: `record_layout::located` with the layout's tables read once per slice, so the
/// per-record reads are this struct's, which stay in registers (issue 15: the tables are
/// behind several pointers the record writes may alias, and were read again for every
/// field of every record).
struct field_at {
  bool var = false;      ///< variable-length: its value is varlen[k]
  std::uint16_t k = 0;   ///< its rank; for a fixed field, 1 + the rank of the value before it
  std::uint16_t rel = 0; ///< a fixed field's offset from the end of that value
  std::uint16_t len = 0; ///< a fixed field's length

  ipfix::field_slice of(std::span<const ipfix::field_slice> varlen) const {
    if (var)
      return varlen[k];
    const std::size_t base = k == 0 ? 0 : std::size_t{varlen[k - 1].offset} + varlen[k - 1].length;
    return {static_cast<std::uint16_t>(base + rel), len};
  }
};

/// The locator of field `i` of `plan` (a field it has), checked against `located` on
/// `sample`, the values of any record of the template (a fixed field lies `rel` after the
/// end of the value before it, the same in every record).
field_at locate(const messages::template_plan& plan, messages::field_index i,
                std::span<const ipfix::field_slice> sample) {
  const auto index = static_cast<std::size_t>(i);
  const auto& layout = plan.layout;
  const auto at = layout.located(index, sample);
  if (layout.fixed())
    return {false, 0, at.offset, at.length};
  const auto k = static_cast<std::uint16_t>(layout.var_rank(index));
  if (plan.input.fields[index].is_varlen())
    return {true, k, 0, 0};
  const std::size_t base = k == 0 ? 0 : std::size_t{sample[k - 1].offset} + sample[k - 1].length;
  return {false, k, static_cast<std::uint16_t>(at.offset - base), at.length};
}

/// One of the six name fields a filled InterNode record gets from the index.
struct name_field {
  messages::field_index index = -1;
  std::size_t rank = 0; ///< among the variable-length fields
  bool destination = false;
  std::string_view labels::pod_view::*value = nullptr;
};

/// The name fields of `plan` that are variable-length in its template, in record order:
/// computed once per slice, so filling a record only walks this list.
std::size_t name_fields(const messages::template_plan& plan, std::array<name_field, 6>& out) {
  using pv = labels::pod_view;
  const std::array<name_field, 6> all{
      {{plan.source_pod_name, 0, false, &pv::name},
       {plan.source_pod_namespace, 0, false, &pv::pod_namespace},
       {plan.source_node_name, 0, false, &pv::node_name},
       {plan.destination_pod_name, 0, true, &pv::name},
       {plan.destination_pod_namespace, 0, true, &pv::pod_namespace},
       {plan.destination_node_name, 0, true, &pv::node_name}}};
  std::size_t n = 0;
  for (const auto& f : all)
    if (f.index >= 0 && plan.input.fields[static_cast<std::size_t>(f.index)].is_varlen()) {
      out[n] = f;
      out[n++].rank = plan.layout.var_rank(static_cast<std::size_t>(f.index));
    }
  // At most six entries: an insertion sort by field index keeps them in record order.
  for (std::size_t k = 1; k < n; ++k)
    for (std::size_t j = k; j > 0 && out[j].index < out[j - 1].index; --j)
      std::swap(out[j], out[j - 1]);
  return n;
}

/// The three name fields of one side of a record when they are consecutive
/// variable-length fields in the order name, namespace, Node: `first` is the name's
/// field index and `rank` its rank among the variable-length fields.
struct name_run {
  bool whole = false;
  messages::field_index first = -1;
  std::size_t rank = 0;
};

/// The name runs of `fills` (in record order), source then destination.
void name_runs(const std::array<name_field, 6>& fills, std::size_t n,
               std::array<name_run, 2>& runs) {
  using pv = labels::pod_view;
  constexpr std::string_view pv::*order[3] = {&pv::name, &pv::pod_namespace, &pv::node_name};
  for (std::size_t side = 0; side < 2; ++side) {
    std::size_t seen = 0;
    bool whole = true;
    name_run r;
    for (std::size_t k = 0; k < n; ++k) {
      const auto& f = fills[k];
      if (f.destination != (side == 1))
        continue;
      if (seen == 0) {
        r.first = f.index;
        r.rank = f.rank;
      }
      whole = whole && seen < 3 && f.value == order[seen] &&
              f.index == r.first + static_cast<messages::field_index>(seen) &&
              f.rank == r.rank + seen;
      ++seen;
    }
    r.whole = whole && seen == 3;
    runs[side] = r;
  }
}

/// A record between the stages of enrich_slice's pipeline.
struct record_job {
  std::uint32_t offset = 0; ///< in the slice body
  std::uint32_t length = 0;
  std::uint8_t type = 0;
  bool src_named = false;
  bool dst_named = false;
  bool lookup = false; ///< labels or names wanted: the addresses are looked up
  std::int64_t t = 0;  ///< flow start, seconds (picks among several Pods of one address)
  labels::ip_key src_key{};
  labels::ip_key dst_key{};
  std::uint64_t src_hash = 0;
  std::uint64_t dst_hash = 0;
  labels::pod_snapshot::found src;
  labels::pod_snapshot::found dst;
};

/// Records in flight: a power of two larger than the emit lag.
constexpr std::size_t ring_size = 16;
/// Lookups run `probe_lag` records behind the walk and records are written `emit_lag`
/// behind it. Each stage starts the loads the next one needs (the address's slot, then
/// the Pod's block), so a record's cache misses are in flight while the records before
/// it are processed: with 100,000 Pods the slots and blocks are mostly outside the
/// caches, and paying each miss in turn cost more than the rest of the enrichment.
constexpr std::size_t probe_lag = 6;
constexpr std::size_t emit_lag = 12;
static_assert(emit_lag < ring_size && probe_lag < emit_lag);

} // namespace

/// Enriches the records of `slice` into the writer `route(record, varlen)` picks for each
/// (its input octets and variable-length values): one writer, or with a slice split by
/// flow the writer of the record's output (DESIGN 9).
template <class Route>
void slice_enricher::run(const messages::session_info& session, const messages::data_slice& slice,
                         std::span<const ipfix::field_slice> values, Route&& route,
                         slice_counts& counts) {
  const auto& plan = *slice.plan;
  auto& a = plan.append;
  std::uint64_t drop = 0;
  // antrea-proxy-semantics.md 2 steps 1 and 2: both addresses of one family, and a
  // start time, or the record is dropped and counted.
  bool v4 = plan.source_ipv4 >= 0 && plan.destination_ipv4 >= 0;
  bool v6 = plan.source_ipv6 >= 0 && plan.destination_ipv6 >= 0;
  if (plan.antrea && !v4 && !v6) {
    counts.dropped_invalid_addresses += slice.records;
    return;
  }
  if (plan.antrea && plan.flow_start_seconds < 0 && plan.flow_start_milliseconds < 0) {
    counts.dropped_no_start_time += slice.records;
    return;
  }
  auto& block = block_;
  constant_block(plan, session, options_, block);
  const std::size_t num_varlen = plan.layout.num_varlen();
  // The output record's variable-length values: the input's, then the labels and
  // clusterId (template_planner's order).
  const std::size_t out_varlen = num_varlen + (a.pod_labels ? 2 : 0) + (a.cluster_id ? 1 : 0);
  const std::size_t cluster_id_size = a.cluster_id ? options_.cluster_id.size() : 0;
  // Labels are at most two strings; the rest is fixed per slice.
  std::size_t fixed_extra = block.size() + (a.flow_direction ? 1 : 0);
  const labels::pod_snapshot* index = pods_ && pods_->num_ips() > 0 ? pods_.get() : nullptr;
  const bool want_labels = index && a.pod_labels && options_.pod_labels;
  // Without labels, all a record gets but flowDirection is the same for the whole slice:
  // the labels empty (one prefix octet each), then the constant block.
  auto& tail = tail_;
  if (!want_labels) {
    tail.assign(a.pod_labels ? 2 : 0, std::uint8_t{0});
    tail.insert(tail.end(), block.begin(), block.end());
  }
  // antrea-proxy-semantics.md 2 step 3: InterNode records with an empty Pod name get the
  // name, namespace and Node from the index.
  const bool want_fill = index && plan.antrea && options_.fill_k8s_names && plan.flow_type >= 0;
  std::array<name_field, 6> fills;
  const std::size_t num_fills = want_fill ? name_fields(plan, fills) : 0;
  // issue 15: a side whose three name fields are consecutive variable-length fields
  // (name, namespace, Node, as in Antrea's templates) is filled by replacing their
  // octets, prefixes included, with the Pod's encoded names (labels::wire_names) in one
  // copy; any other arrangement is filled field by field.
  std::array<name_run, 2> runs{}; // source, destination
  if (num_fills > 0)
    name_runs(fills, num_fills, runs);
  const auto src_i = v4 ? plan.source_ipv4 : plan.source_ipv6;
  const auto dst_i = v4 ? plan.destination_ipv4 : plan.destination_ipv6;
  // Without lookups there is nothing to wait for: each record is written as it is walked.
  const bool pipelined = want_labels || want_fill;
  const std::size_t lag_probe = pipelined ? probe_lag : 0;
  const std::size_t lag_emit = pipelined ? emit_lag : 0;
  std::uint64_t lookups = 0, hits = 0;
  std::array<record_job, ring_size> ring;
  // The variable-length values of record `r`: the agent session's walk found them
  // (ipfix::slice_records), with every record validated.
  auto fields_of = [&](std::size_t r) { return values.subspan(r * num_varlen, num_varlen); };
  const std::size_t records =
      num_varlen == 0 ? slice.records
                      : std::min<std::size_t>(slice.records, values.size() / num_varlen);
  assert(records == slice.records && "data_slice without its variable-length values");
  if (records == 0)
    return;
  // The fields read from every record, located once for the slice (issue 15).
  const auto sample = fields_of(0);
  auto loc = [&](messages::field_index i) { return i >= 0 ? locate(plan, i, sample) : field_at{}; };
  const field_at at_src_name = loc(plan.source_pod_name);
  const field_at at_dst_name = loc(plan.destination_pod_name);
  const field_at at_type = loc(plan.flow_type);
  const field_at at_start_s = loc(plan.flow_start_seconds);
  const field_at at_start_ms = loc(plan.flow_start_milliseconds);
  const field_at at_src = loc(src_i);
  const field_at at_dst = loc(dst_i);
  const bool has_src_name = plan.source_pod_name >= 0;
  const bool has_dst_name = plan.destination_pod_name >= 0;
  const bool has_type = plan.flow_type >= 0;
  // The field before each whole run of names: where the run's octets start.
  std::array<field_at, 2> before_run{};
  for (std::size_t side = 0; side < 2; ++side)
    if (runs[side].whole && runs[side].first > 0)
      before_run[side] = loc(static_cast<messages::field_index>(runs[side].first - 1));

  // Stage 1: each record's end and any field read below follow from its variable-length
  // values; nothing is walked again (issue 15).
  auto body = slice.body;
  std::size_t pos = 0;
  auto walk = [&](std::size_t r) {
    if (r >= records)
      return false;
    const auto varlen = fields_of(r);
    const auto end = plan.layout.record_length(varlen);
    if (end > body.size() - pos) // never past the body, whatever it was given
      return false;
    auto& j = ring[r % ring_size];
    j.offset = static_cast<std::uint32_t>(pos);
    j.length = static_cast<std::uint32_t>(end);
    const auto* rec = body.data() + pos;
    pos += end;
    j.src_named = has_src_name && at_src_name.of(varlen).length > 0;
    j.dst_named = has_dst_name && at_dst_name.of(varlen).length > 0;
    j.type = has_type ? rec[at_type.of(varlen).offset] : 0;
    const bool inter_node = j.type == flow_type_inter_node;
    j.lookup = want_labels || (want_fill && inter_node && (!j.src_named || !j.dst_named));
    j.src = {};
    j.dst = {};
    if (!j.lookup)
      return true;
    j.t = 0;
    if (plan.flow_start_seconds >= 0)
      j.t = ipfix::read_u32(rec + at_start_s.of(varlen).offset);
    else if (plan.flow_start_milliseconds >= 0)
      j.t = static_cast<std::int64_t>(ipfix::read_u64(rec + at_start_ms.of(varlen).offset) / 1000);
    auto key = [&](const field_at& at) {
      const auto* p = rec + at.of(varlen).offset;
      return v4 ? labels::ipv4_key(p) : labels::ipv6_key(p);
    };
    j.src_key = key(at_src);
    j.dst_key = key(at_dst);
    j.src_hash = labels::ip_hash(j.src_key);
    j.dst_hash = labels::ip_hash(j.dst_key);
    index->prefetch(j.src_hash);
    index->prefetch(j.dst_hash);
    return true;
  };

  // Stage 2: the lookups, whose slots are loaded by now; starts loading the Pods' blocks.
  auto resolve = [&](std::size_t r) {
    auto& j = ring[r % ring_size];
    if (!j.lookup)
      return;
    j.src = index->find_pod(j.src_key, j.src_hash, j.t);
    j.dst = index->find_pod(j.dst_key, j.dst_hash, j.t);
    for (const auto& f : {j.src, j.dst})
      if (f.wire) {
        __builtin_prefetch(f.wire);
        __builtin_prefetch(f.wire + 64);
      } else if (f.entry) {
        __builtin_prefetch(f.entry);
      }
    if (want_labels) {
      lookups += 2;
      hits += (j.src ? 1 : 0) + (j.dst ? 1 : 0);
    }
  };

  // The writer of a record of `out_size` octets, begun, and where its output values go
  // (null when the writer carries none): for the readers of fields (enriched_payload
  // varlen), the input's as walked, those after a filled name moved by what filling it
  // added, and the appended ones where they are written. No second walk.
  auto open_record = [&](const std::uint8_t* rec, std::size_t length,
                         std::span<const ipfix::field_slice> varlen,
                         std::size_t out_size) -> std::pair<set_writer&, ipfix::field_slice*> {
    set_writer& w = route(ipfix::bytes_view{rec, length}, varlen);
    w.begin_record(out_size);
    if (!w.with_varlen)
      return {w, nullptr};
    auto& values = w.payload.varlen;
    const std::size_t first = values.size();
    values.resize(first + out_varlen);
    auto* v = values.data() + first;
    if (num_varlen != 0) // field_slice is trivially copyable: one copy for all
      std::memcpy(v, varlen.data(), num_varlen * sizeof(ipfix::field_slice));
    return {w, v};
  };

  // A record with nothing looked up, into `w` (begun with its `out_size`, its values
  // `v` copied when the writer carries them): the record as received, then what every
  // record of the slice gets, then flowDirection, appended; nothing zero-filled first
  // (issue 15).
  auto write_plain = [&](set_writer& w, ipfix::field_slice* v, const std::uint8_t* rec,
                         std::size_t length, std::size_t out_size, std::uint8_t direction) {
    auto& out = w.payload;
    if (v) {
      std::size_t k = num_varlen;
      if (a.pod_labels) {
        v[k++] = value_at(length, 0);
        v[k++] = value_at(length + 1, 0);
      }
      if (a.cluster_id) // first in the constant block
        v[k] = value_at(length + (a.pod_labels ? 2 : 0), cluster_id_size);
    }
    // One growth for the three parts (byte_buffer: nothing zero-filled), then copies.
    const auto at = out.bytes.size();
    out.bytes.resize(at + out_size);
    auto* p = out.bytes.data() + at;
    std::memcpy(p, rec, length);
    if (!tail.empty())
      std::memcpy(p + length, tail.data(), tail.size());
    if (a.flow_direction)
      p[length + tail.size()] = direction;
    w.end_record();
    ++out.records;
  };

  // The end of a record with labels, written up to `p` (`at` octets from its start):
  // the constant block (clusterId first, its value `v[k]` when handed over), then
  // flowDirection.
  auto finish_record = [&](set_writer& w, ipfix::field_slice* v, std::size_t k, std::size_t at,
                           std::uint8_t* p, std::uint8_t direction) {
    if (v && a.cluster_id)
      v[k] = value_at(at, cluster_id_size);
    if (!block.empty()) {
      std::memcpy(p, block.data(), block.size());
      p += block.size();
    }
    if (a.flow_direction)
      *p = direction;
    w.end_record();
    ++w.payload.records;
  };

  // Stage 3 with sealed Pods: the record with each filled side's run of names replaced
  // by the Pod's encoded names, then the encoded labels (or empty ones), the constant
  // block and flowDirection.
  auto emit_encoded = [&](const record_job& j, const std::uint8_t* rec,
                          std::span<const ipfix::field_slice> varlen, bool fill_src,
                          bool fill_dst) {
    static constexpr char no_labels[1] = {0}; // an empty value: its prefix alone
    struct piece {
      std::size_t start = 0, end = 0; ///< the run's octets in the record
      const char* wire = nullptr;     ///< the Pod's block
      std::size_t rank = 0;           ///< of the run's first value
    };
    std::array<piece, 2> pieces;
    std::size_t num_pieces = 0;
    std::size_t rec_size = j.length;
    auto add = [&](std::size_t side, const char* wire) {
      const auto& run = runs[side];
      std::size_t start = 0; // where the name's prefix starts: the end of the field before
      if (run.first > 0) {
        const auto prev = before_run[side].of(varlen);
        start = std::size_t{prev.offset} + prev.length;
      }
      const auto& last = varlen[run.rank + 2];
      const std::size_t end = std::size_t{last.offset} + last.length;
      rec_size += labels::wire_names(wire).size() - (end - start);
      pieces[num_pieces++] = {start, end, wire, run.rank};
    };
    if (fill_src)
      add(0, j.src.wire);
    if (fill_dst)
      add(1, j.dst.wire);
    if (num_pieces == 2 && pieces[1].start < pieces[0].start)
      std::swap(pieces[0], pieces[1]);
    const std::string_view src_labels =
        want_labels && j.src ? labels::wire_labels(j.src.wire) : std::string_view{no_labels, 1};
    const std::string_view dst_labels =
        want_labels && j.dst ? labels::wire_labels(j.dst.wire) : std::string_view{no_labels, 1};
    const std::size_t out_size =
        rec_size + fixed_extra + (a.pod_labels ? src_labels.size() + dst_labels.size() : 0);
    if (out_size > max_set_body_) {
      ++drop;
      return;
    }
    auto [w, v] = open_record(rec, j.length, varlen, out_size);
    auto& out = w.payload;
    const auto at = out.bytes.size();
    out.bytes.resize(at + out_size);
    auto* const start_out = out.bytes.data() + at;
    auto* p = start_out;
    auto here = [&] { return static_cast<std::size_t>(p - start_out); };
    std::size_t copied = 0;
    std::size_t k = 0; // values before k are in place (when `v`)
    std::ptrdiff_t delta = 0;
    for (std::size_t m = 0; m < num_pieces; ++m) {
      const auto& c = pieces[m];
      std::memcpy(p, rec + copied, c.start - copied);
      p += c.start - copied;
      if (v) {
        for (; k < c.rank; ++k)
          v[k].offset = static_cast<std::uint16_t>(v[k].offset + delta);
        const auto names = labels::wire_view(c.wire);
        std::size_t value = here();
        for (const auto s : {names.name, names.pod_namespace, names.node_name}) {
          v[k++] = value_at(value, s.size());
          value += varlen_size(s.size());
        }
      }
      const auto names = labels::wire_names(c.wire);
      std::memcpy(p, names.data(), names.size());
      p += names.size();
      delta = static_cast<std::ptrdiff_t>(here()) - static_cast<std::ptrdiff_t>(c.end);
      copied = c.end;
    }
    std::memcpy(p, rec + copied, j.length - copied);
    p += j.length - copied;
    if (v)
      for (; k < num_varlen; ++k)
        v[k].offset = static_cast<std::uint16_t>(v[k].offset + delta);
    if (a.pod_labels) {
      for (const auto& l : {src_labels, dst_labels}) {
        // The value's length is what follows its prefix: one octet when the whole is at
        // most 255 octets, else three (labels::wire_prefix_size).
        if (v)
          v[k++] = value_at(here(), l.size() - (l.size() <= 255 ? 1 : 3));
        std::memcpy(p, l.data(), l.size());
        p += l.size();
      }
    }
    finish_record(w, v, k, here(), p, flow_direction(j.type, j.src_named, j.dst_named));
  };

  // Stage 3: the output record, written in place: the input with any filled names,
  // then the labels, the constant block and flowDirection.
  auto emit = [&](std::size_t r) {
    const auto& j = ring[r % ring_size];
    const std::uint8_t* rec = body.data() + j.offset;
    const auto varlen = fields_of(r);
    auto field = [&](messages::field_index i) {
      return plan.layout.located(static_cast<std::size_t>(i), varlen);
    };
    const bool inter_node = j.type == flow_type_inter_node;
    const bool fill_src = want_fill && inter_node && !j.src_named && j.src;
    const bool fill_dst = want_fill && inter_node && !j.dst_named && j.dst;
    // Sealed Pods and whole name runs (nearly always): each filled side and each label
    // is one copy of octets encoded once per Pod event.
    if ((!fill_src || (runs[0].whole && j.src.wire)) &&
        (!fill_dst || (runs[1].whole && j.dst.wire)) &&
        (!want_labels || ((!j.src || j.src.wire) && (!j.dst || j.dst.wire)))) {
      emit_encoded(j, rec, varlen, fill_src, fill_dst);
      return;
    }
    labels::pod_view src, dst;
    if (j.src)
      src = j.src.view();
    if (j.dst)
      dst = j.dst.view();
    // flowDirection is decided from the names as received, before any are filled.
    const std::uint8_t direction = flow_direction(j.type, j.src_named, j.dst_named);
    // The filled name fields replace the received ones (prefix and value, RFC 7011 7);
    // a field is located by the end of the field before it, so prefixes of either form
    // are exact.
    // Where a filled field's bytes start (its prefix included) and end in the record.
    auto span_of = [&](const auto& f) {
      std::size_t start = 0;
      if (f.index > 0) {
        auto prev = field(static_cast<messages::field_index>(f.index - 1));
        start = std::size_t{prev.offset} + prev.length;
      }
      auto cur = field(f.index);
      return std::pair{start, std::size_t{cur.offset} + cur.length};
    };
    std::size_t rec_size = j.length;
    if (fill_src || fill_dst)
      for (std::size_t k = 0; k < num_fills; ++k) {
        const auto& f = fills[k];
        if (!(f.destination ? fill_dst : fill_src))
          continue;
        auto [start, end] = span_of(f);
        rec_size += varlen_size(((f.destination ? dst : src).*f.value).size());
        rec_size -= end - start;
      }
    const std::string_view src_labels = want_labels ? src.labels_json : std::string_view{};
    const std::string_view dst_labels = want_labels ? dst.labels_json : std::string_view{};
    std::size_t labels_size =
        a.pod_labels ? varlen_size(src_labels.size()) + varlen_size(dst_labels.size()) : 0;
    std::size_t out_size = rec_size + fixed_extra + labels_size;
    if (out_size > max_set_body_) {
      ++drop;
      return;
    }
    auto [w, v] = open_record(rec, j.length, varlen, out_size);
    auto& out = w.payload;
    if (!fill_src && !fill_dst && !want_labels) {
      write_plain(w, v, rec, j.length, out_size, direction);
      return;
    }
    // Sized once, then filled in place: no per-field growth checks.
    auto at = out.bytes.size();
    out.bytes.resize(at + out_size);
    auto* p = out.bytes.data() + at;
    auto* const start_out = p;
    auto here = [&] { return static_cast<std::size_t>(p - start_out); };
    if (fill_src || fill_dst) {
      std::size_t copied = 0;
      std::size_t k = 0; // values before k are in place
      std::ptrdiff_t delta = 0;
      for (std::size_t m = 0; m < num_fills; ++m) {
        const auto& f = fills[m];
        if (!(f.destination ? fill_dst : fill_src))
          continue;
        auto [start, end] = span_of(f);
        std::memcpy(p, rec + copied, start - copied);
        p += start - copied;
        const std::string_view name = (f.destination ? dst : src).*f.value;
        if (v) {
          for (; k < f.rank; ++k)
            v[k].offset = static_cast<std::uint16_t>(v[k].offset + delta);
          v[k++] = value_at(here(), name.size());
        }
        p = put_varlen(p, name);
        delta = static_cast<std::ptrdiff_t>(here()) - static_cast<std::ptrdiff_t>(end);
        copied = end;
      }
      std::memcpy(p, rec + copied, j.length - copied);
      p += j.length - copied;
      if (v)
        for (; k < num_varlen; ++k)
          v[k].offset = static_cast<std::uint16_t>(v[k].offset + delta);
    } else {
      std::memcpy(p, rec, j.length);
      p += j.length;
    }
    std::size_t k = num_varlen;
    if (a.pod_labels) {
      if (v)
        v[k++] = value_at(here(), src_labels.size());
      p = put_varlen(p, src_labels);
      if (v)
        v[k++] = value_at(here(), dst_labels.size());
      p = put_varlen(p, dst_labels);
    }
    finish_record(w, v, k, here(), p, direction);
  };

  if (!pipelined) {
    // Nothing to look up (no Pod index, or neither labels nor names wanted): each record
    // is written as it is reached, in one loop without the pipeline's ring (issue 15:
    // the ring's bookkeeping cost more than the copies).
    for (std::size_t r = 0; r < records; ++r) {
      const auto varlen = fields_of(r);
      const std::size_t length = plan.layout.record_length(varlen);
      if (length > body.size() - pos) // never past the body, whatever it was given
        break;
      const auto* rec = body.data() + pos;
      pos += length;
      const std::uint8_t type = has_type ? rec[at_type.of(varlen).offset] : 0;
      // The labels, when appended, are empty: one prefix octet each.
      const std::size_t out_size = length + fixed_extra + (a.pod_labels ? 2 : 0);
      if (out_size > max_set_body_) {
        ++drop;
        continue;
      }
      auto [w, v] = open_record(rec, length, varlen, out_size);
      write_plain(w, v, rec, length, out_size,
                  flow_direction(type, has_src_name && at_src_name.of(varlen).length > 0,
                                 has_dst_name && at_dst_name.of(varlen).length > 0));
    }
    counts.dropped_too_large += drop;
    return;
  }

  auto step = [&](std::size_t i, std::size_t walked) {
    if (i >= lag_probe && i - lag_probe < walked)
      resolve(i - lag_probe);
    if (i >= lag_emit && i - lag_emit < walked)
      emit(i - lag_emit);
  };
  std::size_t i = 0;
  for (; walk(i); ++i)
    step(i, i + 1);
  for (const std::size_t walked = i; i < walked + lag_emit; ++i)
    step(i, walked);

  if (want_labels) {
    counts.label_lookups += lookups;
    counts.label_hits += hits;
  }
  counts.dropped_too_large += drop;
}

slice_enricher::slice_enricher(enrichment_options options, std::size_t max_set_body)
    : options_(std::move(options))
    , max_set_body_(max_set_body) {}

void slice_enricher::reconfigure(enrichment_options options, std::size_t max_set_body) {
  options_ = std::move(options);
  max_set_body_ = max_set_body;
}

void slice_enricher::enrich(const messages::session_info& session,
                            const messages::data_slice& slice,
                            std::span<const ipfix::field_slice> varlen, set_writer& out,
                            slice_counts& counts) {
  run(
      session, slice, varlen,
      [&](ipfix::bytes_view, std::span<const ipfix::field_slice>) -> set_writer& { return out; },
      counts);
}

void slice_enricher::enrich(const messages::session_info& session,
                            const messages::data_slice& slice,
                            std::span<const ipfix::field_slice> varlen, record_router& route,
                            slice_counts& counts) {
  run(
      session, slice, varlen,
      [&](ipfix::bytes_view rec, std::span<const ipfix::field_slice> varlen) -> set_writer& {
        return route.writer_for(rec, varlen);
      },
      counts);
}

std::uint8_t flow_direction(std::uint8_t flow_type, bool source_pod_named,
                            bool destination_pod_named) {
  switch (flow_type) {
  case flow_type_inter_node:
    if (source_pod_named && !destination_pod_named)
      return 1;
    if (!source_pod_named && destination_pod_named)
      return 0;
    return 255;
  case flow_type_to_external:
    return source_pod_named ? 1 : 255;
  case flow_type_from_external:
    return destination_pod_named ? 0 : 255;
  default:
    return 255;
  }
}

} // namespace fa::enrich
