#include "actors/enricher.hpp"

#include "actors/actor_stats.hpp"
#include "ipfix/record.hpp"
#include "ipfix/wire.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

namespace fa::actors {

namespace {

constexpr std::uint8_t flow_type_inter_node = 2;
constexpr std::uint8_t flow_type_to_external = 3;
constexpr std::uint8_t flow_type_from_external = 4;

using state_ptr = enricher_actor::stateful_pointer<enricher_state>;

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

/// Octets of a variable-length value of `n` octets with its prefix (RFC 7011 7).
std::size_t varlen_size(std::size_t n) {
  return n + (n < 255 ? 1 : 3);
}

/// The fields that are the same for every record of one slice: clusterId, 405, 403, 404.
std::vector<std::uint8_t> constant_block(const messages::template_plan& plan,
                                         const messages::session_info& session,
                                         const enrichment_options& opts) {
  std::vector<std::uint8_t> out;
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
  return out;
}

struct set_writer {
  set_writer(messages::enriched_payload& p, const messages::output_template_ptr& t, std::size_t max)
      : payload(p)
      , tmpl(t)
      , max_body(max) {}

  messages::enriched_payload& payload;
  const messages::output_template_ptr& tmpl;
  std::size_t max_body;
  std::size_t start = 0;
  std::uint32_t records = 0;
  bool open = false;

  void begin_record(std::size_t record_size) {
    if (open && payload.bytes.size() - start + record_size > max_body)
      close();
    if (!open) {
      start = payload.bytes.size();
      records = 0;
      open = true;
    }
  }
  void end_record() { ++records; }
  void close() {
    if (open && records > 0)
      payload.sets.push_back({tmpl, static_cast<std::uint32_t>(start),
                              static_cast<std::uint32_t>(payload.bytes.size() - start), records});
    open = false;
  }
};

/// One of the six name fields a filled InterNode record gets from the index.
struct name_field {
  messages::field_index index = -1;
  bool destination = false;
  std::string_view labels::pod_view::*value = nullptr;
};

/// The name fields of `plan` that are variable-length in its template, in record order:
/// computed once per slice, so filling a record only walks this list.
std::size_t name_fields(const messages::template_plan& plan, std::array<name_field, 6>& out) {
  using pv = labels::pod_view;
  const std::array<name_field, 6> all{{{plan.source_pod_name, false, &pv::name},
                                       {plan.source_pod_namespace, false, &pv::pod_namespace},
                                       {plan.source_node_name, false, &pv::node_name},
                                       {plan.destination_pod_name, true, &pv::name},
                                       {plan.destination_pod_namespace, true, &pv::pod_namespace},
                                       {plan.destination_node_name, true, &pv::node_name}}};
  std::size_t n = 0;
  for (const auto& f : all)
    if (f.index >= 0 && plan.input.fields[static_cast<std::size_t>(f.index)].is_varlen())
      out[n++] = f;
  // At most six entries: an insertion sort by field index keeps them in record order.
  for (std::size_t k = 1; k < n; ++k)
    for (std::size_t j = k; j > 0 && out[j].index < out[j - 1].index; --j)
      std::swap(out[j], out[j - 1]);
  return n;
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

/// Enriches the records of `slice` into the writer `route(record, varlen)` picks for each
/// (its input octets and variable-length values): in proxy mode always the same one, in
/// aggregate mode with several shards the writer of the record's shard (DESIGN 9).
template <class Route>
void enrich_slice(state_ptr self, const messages::session_info& session,
                  const messages::data_slice& slice, Route&& route) {
  auto& st = self->state;
  const auto& plan = *slice.plan;
  auto& a = plan.append;
  std::uint64_t drop = 0;
  // antrea-proxy-semantics.md 2 steps 1 and 2: both addresses of one family, and a
  // start time, or the record is dropped and counted.
  bool v4 = plan.source_ipv4 >= 0 && plan.destination_ipv4 >= 0;
  bool v6 = plan.source_ipv6 >= 0 && plan.destination_ipv6 >= 0;
  if (plan.antrea && !v4 && !v6) {
    st.status.dropped_invalid_addresses += slice.records;
    if (st.dropped_addresses)
      st.dropped_addresses->Increment(slice.records);
    return;
  }
  if (plan.antrea && plan.flow_start_seconds < 0 && plan.flow_start_milliseconds < 0) {
    st.status.dropped_no_start_time += slice.records;
    if (st.dropped_start_time)
      st.dropped_start_time->Increment(slice.records);
    return;
  }
  auto block = constant_block(plan, session, st.cfg.enrichment);
  const std::size_t num_varlen = plan.layout.num_varlen();
  st.fields.resize(num_varlen * ring_size);
  // Labels are at most two strings; the rest is fixed per slice.
  std::size_t fixed_extra = block.size() + (a.flow_direction ? 1 : 0);
  const labels::pod_snapshot* index = st.pods && st.pods->num_ips() > 0 ? st.pods.get() : nullptr;
  const bool want_labels = index && a.pod_labels && st.cfg.enrichment.pod_labels;
  // antrea-proxy-semantics.md 2 step 3: InterNode records with an empty Pod name get the
  // name, namespace and Node from the index.
  const bool want_fill =
      index && plan.antrea && st.cfg.enrichment.fill_k8s_names && plan.flow_type >= 0;
  std::array<name_field, 6> fills;
  const std::size_t num_fills = want_fill ? name_fields(plan, fills) : 0;
  const auto src_i = v4 ? plan.source_ipv4 : plan.source_ipv6;
  const auto dst_i = v4 ? plan.destination_ipv4 : plan.destination_ipv6;
  // Without lookups there is nothing to wait for: each record is written as it is walked.
  const bool pipelined = want_labels || want_fill;
  const std::size_t lag_probe = pipelined ? probe_lag : 0;
  const std::size_t lag_emit = pipelined ? emit_lag : 0;
  std::uint64_t lookups = 0, hits = 0;
  std::array<record_job, ring_size> ring;
  auto fields_of = [&](std::size_t r) {
    return std::span<const ipfix::field_slice>{st.fields.data() + (r % ring_size) * num_varlen,
                                               num_varlen};
  };

  // Stage 1: one walk per record over its variable-length fields finds both the
  // record's end and any field read below; the agent session has validated every record
  // already.
  auto body = slice.body;
  const std::size_t min_length = plan.layout.min_length();
  std::size_t pos = 0;
  auto walk = [&](std::size_t r) {
    if (min_length == 0 || body.size() - pos < min_length)
      return false;
    auto rest = body.subspan(pos);
    ipfix::parse_error err;
    auto varlen =
        std::span<ipfix::field_slice>{st.fields.data() + (r % ring_size) * num_varlen, num_varlen};
    auto end = plan.layout.walk_varlen(rest, varlen, err);
    if (end == 0)
      return false;
    auto& j = ring[r % ring_size];
    j.offset = static_cast<std::uint32_t>(pos);
    j.length = static_cast<std::uint32_t>(end);
    pos += end;
    const auto* rec = rest.data();
    auto field = [&](messages::field_index i) {
      return plan.layout.located(static_cast<std::size_t>(i), varlen);
    };
    auto named = [&](messages::field_index i) { return i >= 0 && field(i).length > 0; };
    j.src_named = named(plan.source_pod_name);
    j.dst_named = named(plan.destination_pod_name);
    j.type = plan.flow_type >= 0 ? rec[field(plan.flow_type).offset] : 0;
    const bool inter_node = j.type == flow_type_inter_node;
    j.lookup = want_labels || (want_fill && inter_node && (!j.src_named || !j.dst_named));
    j.src = {};
    j.dst = {};
    if (!j.lookup)
      return true;
    j.t = 0;
    if (plan.flow_start_seconds >= 0)
      j.t = ipfix::read_u32(rec + field(plan.flow_start_seconds).offset);
    else if (plan.flow_start_milliseconds >= 0)
      j.t = static_cast<std::int64_t>(
          ipfix::read_u64(rec + field(plan.flow_start_milliseconds).offset) / 1000);
    auto key = [&](messages::field_index i) {
      const auto* p = rec + field(i).offset;
      return v4 ? labels::ipv4_key(p) : labels::ipv6_key(p);
    };
    j.src_key = key(src_i);
    j.dst_key = key(dst_i);
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
    if (out_size > st.cfg.max_set_body) {
      ++drop;
      return;
    }
    set_writer& w = route(ipfix::bytes_view{rec, j.length}, varlen);
    auto& out = w.payload;
    w.begin_record(out_size);
    // Sized once, then filled in place: no per-field growth checks.
    auto at = out.bytes.size();
    out.bytes.resize(at + out_size);
    auto* p = out.bytes.data() + at;
    if (fill_src || fill_dst) {
      std::size_t copied = 0;
      for (std::size_t k = 0; k < num_fills; ++k) {
        const auto& f = fills[k];
        if (!(f.destination ? fill_dst : fill_src))
          continue;
        auto [start, end] = span_of(f);
        std::memcpy(p, rec + copied, start - copied);
        p += start - copied;
        p = put_varlen(p, (f.destination ? dst : src).*f.value);
        copied = end;
      }
      std::memcpy(p, rec + copied, j.length - copied);
      p += j.length - copied;
    } else {
      std::memcpy(p, rec, j.length);
      p += j.length;
    }
    if (a.pod_labels) {
      p = put_varlen(p, src_labels);
      p = put_varlen(p, dst_labels);
    }
    if (!block.empty()) {
      std::memcpy(p, block.data(), block.size());
      p += block.size();
    }
    if (a.flow_direction)
      *p = direction;
    w.end_record();
    ++out.records;
  };

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
    st.status.label_lookups += lookups;
    st.status.label_hits += hits;
  }
  if (drop > 0) {
    st.status.dropped_too_large += drop;
    if (st.dropped_too_large)
      st.dropped_too_large->Increment(static_cast<double>(drop));
  }
}

} // namespace

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

namespace {

/// One of the payloads a batch is enriched into, and the set it is writing.
struct batch_output {
  std::shared_ptr<messages::enriched_payload> payload;
  std::optional<set_writer> w;
};

/// The credit destination `i` holds: only a blocking one (on_full = "block") keeps the
/// batch's credit until written. A destination without an entry blocks.
messages::payload_credit hold_for(const enricher_state& st, std::size_t i,
                                  const messages::payload_credit& credit) {
  const auto& blocks = st.cfg.destination_blocks;
  return i >= blocks.size() || blocks[i] ? credit : nullptr;
}

/// Sends a whole batch by the fanout: to every destination, or (hash) to its exporter's.
/// Fanout flow with one destination sends to it.
void route(state_ptr self, messages::enriched_batch out, const messages::payload_credit& credit) {
  auto& st = self->state;
  if (st.cfg.fanout == fanout_mode::hash) {
    // Once per batch, never per record: every batch of a session has the same
    // exporter address, so all its records go to the same destination.
    const auto& session = out.payload->session;
    auto key = session ? exporter_key(session->peer_v6) : std::uint64_t{0};
    auto i = rendezvous_pick(st.destination_seeds, key);
    out.hold = hold_for(st, i, credit);
    self->send(st.cfg.destinations[i], std::move(out));
    return;
  }
  for (std::size_t i = 0; i < st.cfg.destinations.size(); ++i) {
    out.hold = hold_for(st, i, credit);
    self->send(st.cfg.destinations[i], out);
  }
}

/// One name per destination, as fanout hash and flow need (rendezvous seeds).
bool names_fit(const enricher_config& cfg) {
  return cfg.fanout == fanout_mode::all ||
         (!cfg.destinations.empty() && cfg.destination_names.size() == cfg.destinations.size());
}

/// The seeds and the per-record split of `st.cfg`: the shards' hash ranges, the
/// destinations' rendezvous for fanout flow, or one output (batches routed whole).
void use_routes(enricher_state& st) {
  st.destination_seeds.clear();
  if (st.cfg.fanout != fanout_mode::all)
    for (auto& n : st.cfg.destination_names)
      st.destination_seeds.push_back(destination_seed(n));
  if (st.cfg.split_by_flow)
    st.split = flow_split{st.cfg.destinations.size()};
  else if (st.cfg.fanout == fanout_mode::flow) {
    st.split = flow_split{st.destination_seeds};
    if (st.cfg.failover && st.cfg.metrics) {
      std::vector<const prometheus::Gauge*> up;
      std::vector<prometheus::Counter*> rerouted;
      for (const auto& n : st.cfg.destination_names) {
        up.push_back(&st.cfg.metrics->destination_up(n));
        rerouted.push_back(&st.cfg.metrics->records_rerouted(n));
      }
      st.split.fail_over(std::move(up), std::move(rerouted));
    }
  } else
    st.split = flow_split{1};
}

} // namespace

enricher_actor::behavior_type enricher(enricher_actor::stateful_pointer<enricher_state> self,
                                       enricher_config cfg) {
  if (cfg.max_set_body < 64) {
    self->quit(caf::make_error(caf::sec::invalid_argument, "enricher: max_set_body too small"));
    return enricher_actor::behavior_type::make_empty_behavior();
  }
  auto& st = self->state;
  if (cfg.metrics) {
    st.dropped_addresses = &cfg.metrics->enrich_dropped("invalid_addresses");
    st.dropped_start_time = &cfg.metrics->enrich_dropped("no_start_time");
    st.dropped_too_large = &cfg.metrics->enrich_dropped("too_large");
    st.lookup_hits = &cfg.metrics->label_lookups("hit");
    st.lookup_misses = &cfg.metrics->label_lookups("miss");
    st.batch_seconds = &cfg.metrics->enrich_batch_seconds();
  }
  if (!names_fit(cfg)) {
    self->quit(caf::make_error(caf::sec::invalid_argument,
                               "enricher: fanout hash and flow need one name per destination"));
    return enricher_actor::behavior_type::make_empty_behavior();
  }
  st.cfg = std::move(cfg);
  use_routes(st);
  return counted_behavior{
      self,
      [=](messages::data_batch& batch) {
        auto& st = self->state;
        // Metrics once per batch (STYLE: histograms at batch granularity): the lookups
        // are counted per record in the status, and added to the counters from there.
        const auto started = std::chrono::steady_clock::now();
        const auto lookups_before = st.status.label_lookups;
        const auto hits_before = st.status.label_hits;
        std::size_t in_size = 0;
        std::uint64_t in_records = 0;
        for (auto& s : batch.slices) {
          in_size += s.body.size();
          in_records += s.records;
        }
        // One output per batch, or split by flow (aggregate mode with several shards,
        // fanout flow) one per shard or destination, each record in its flow's output
        // (DESIGN 9): one message per output and batch, a session's records in order.
        const std::size_t n = st.split.outputs();
        // Sized for what the last batch added per record (labels and filled names make
        // that about 170 octets with 100,000 Pods): one allocation, no regrowth that
        // copies the batch and charges its credit twice the octets. Split, each shard
        // gets its share and half as much again for an uneven split.
        const std::size_t expected = in_size + in_records * st.extra_per_record;
        st.split.begin_batch();
        std::vector<batch_output> outs(n);
        for (auto& o : outs) {
          o.payload = std::make_shared<messages::enriched_payload>();
          o.payload->bytes.reserve(n == 1 ? expected : expected / n + expected / (2 * n));
        }
        for (auto& s : batch.slices) {
          // Consecutive slices with the same output template share sets: a UDP
          // exporter's datagrams (and small TCP messages) then leave in full sets and
          // full messages, not one short set per input set.
          for (auto& o : outs)
            if (!o.w || o.w->tmpl != s.plan->output) {
              if (o.w)
                o.w->close();
              o.w.emplace(*o.payload, s.plan->output, st.cfg.max_set_body);
            }
          const auto* layout = n > 1 ? st.split.layout_of(s.plan) : nullptr;
          if (!layout) {
            // One output for the whole slice. Split, records without a flow key (not
            // Antrea, a key field missing) go by their exporter: to its shard, which
            // forwards them (counted), or with fanout flow to fanout hash's destination;
            // deterministic, and in the session's order.
            auto& w =
                *outs[n == 1 ? 0
                             : st.split.output_of_exporter(exporter_key(batch.session->peer_v6))]
                     .w;
            enrich_slice(self, *batch.session, s,
                         [&](ipfix::bytes_view,
                             std::span<const ipfix::field_slice>) -> set_writer& { return w; });
            continue;
          }
          enrich_slice(self, *batch.session, s,
                       [&](ipfix::bytes_view rec,
                           std::span<const ipfix::field_slice> varlen) -> set_writer& {
                         return *outs[st.split.output_of(*layout, rec, varlen)].w;
                       });
        }
        st.split.end_batch();
        std::size_t out_size = 0;
        for (auto& o : outs) {
          if (o.w)
            o.w->close();
          out_size += o.payload->bytes.size();
          st.status.records_out += o.payload->records;
        }
        ++st.status.batches;
        st.status.records_in += in_records;
        if (in_records > 0) {
          auto added = out_size > in_size ? out_size - in_size : 0;
          st.extra_per_record = std::max<std::size_t>(64, added / in_records + 16);
        }
        if (st.batch_seconds) {
          auto hits = st.status.label_hits - hits_before;
          auto lookups = st.status.label_lookups - lookups_before;
          if (hits > 0)
            st.lookup_hits->Increment(static_cast<double>(hits));
          if (lookups > hits)
            st.lookup_misses->Increment(static_cast<double>(lookups - hits));
          st.batch_seconds->Observe(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        }
        // Every output's credit is charged before the input chunk's goes, so the budget
        // never looks free in between (DESIGN 3).
        std::vector<messages::payload_credit> credits(n);
        for (std::size_t k = 0; k < n; ++k)
          if (!outs[k].payload->sets.empty())
            credits[k] = std::make_shared<const messages::credit>(
                batch.data->budgets(), outs[k].payload->bytes.capacity());
        batch.data.reset();
        for (std::size_t k = 0; k < n; ++k) {
          if (!credits[k])
            continue;
          outs[k].payload->session = batch.session;
          messages::enriched_batch out{std::move(outs[k].payload), nullptr};
          if (n > 1) {
            out.hold = hold_for(st, k, credits[k]);
            self->send(st.cfg.destinations[k], std::move(out));
            continue;
          }
          route(self, std::move(out), credits[k]);
        }
      },
      [=](messages::label_snapshot& snap) { self->state.pods = std::move(snap.pods); },
      // Config reload: batches handled from here on go to the new destinations with the
      // new options. A bad update (hash without one name per destination) is refused
      // whole and the current configuration stays.
      [=](messages::enricher_reconfig& r) {
        auto& st = self->state;
        if (!r.cfg || r.cfg->destinations.empty() || r.cfg->max_set_body < 64 || !names_fit(*r.cfg))
          return;
        auto metrics = st.cfg.metrics;
        st.cfg = *r.cfg;
        st.cfg.metrics = metrics;
        // Fanout flow: rendezvous over the new names moves only the flows a new
        // destination wins or a removed one owned (README, Scaling out aggregate mode).
        use_routes(st);
      },
      [=](caf::get_atom) { return self->state.status; },
  };
}

} // namespace fa::actors
