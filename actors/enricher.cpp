#include "actors/enricher.hpp"

#include "actors/actor_stats.hpp"
#include "ipfix/record.hpp"
#include "ipfix/wire.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <optional>

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

/// Copies `rec` into `out` with the empty Pod name, namespace and Node fields of the
/// given sides replaced by the Pod's (variable-length strings, RFC 7011 7). A field is
/// located by the end of the field before it, so prefixes of either form are exact.
template <class Field>
void fill_names(const messages::template_plan& plan, ipfix::bytes_view rec, Field&& field,
                const labels::pod_entry* src, const labels::pod_entry* dst,
                std::vector<std::uint8_t>& out) {
  struct replacement {
    messages::field_index index;
    std::string_view value;
  };
  std::array<replacement, 6> all{
      {{plan.source_pod_name, src ? std::string_view{src->name} : std::string_view{}},
       {plan.source_pod_namespace, src ? std::string_view{src->pod_namespace} : std::string_view{}},
       {plan.source_node_name, src ? std::string_view{src->node_name} : std::string_view{}},
       {plan.destination_pod_name, dst ? std::string_view{dst->name} : std::string_view{}},
       {plan.destination_pod_namespace,
        dst ? std::string_view{dst->pod_namespace} : std::string_view{}},
       {plan.destination_node_name, dst ? std::string_view{dst->node_name} : std::string_view{}}}};
  std::array<replacement, 6> todo{};
  std::size_t n = 0;
  for (std::size_t k = 0; k < all.size(); ++k) {
    bool side = k < 3 ? src != nullptr : dst != nullptr;
    auto i = all[k].index;
    if (side && i >= 0 && plan.input.fields[static_cast<std::size_t>(i)].is_varlen())
      todo[n++] = all[k];
  }
  // At most six entries: an insertion sort by field index keeps them in record order.
  for (std::size_t k = 1; k < n; ++k)
    for (std::size_t j = k; j > 0 && todo[j].index < todo[j - 1].index; --j)
      std::swap(todo[j], todo[j - 1]);
  out.clear();
  std::size_t copied = 0;
  for (std::size_t k = 0; k < n; ++k) {
    auto i = todo[k].index;
    std::size_t start = 0;
    if (i > 0) {
      auto prev = field(static_cast<messages::field_index>(i - 1));
      start = std::size_t{prev.offset} + prev.length;
    }
    auto cur = field(i);
    out.insert(out.end(), rec.begin() + copied, rec.begin() + start);
    put_varlen(out, todo[k].value);
    copied = std::size_t{cur.offset} + cur.length;
  }
  out.insert(out.end(), rec.begin() + copied, rec.end());
}

void enrich_slice(state_ptr self, const messages::session_info& session,
                  const messages::data_slice& slice, messages::enriched_payload& out,
                  set_writer& w) {
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
  st.fields.resize(plan.layout.num_varlen());
  // Labels are at most two strings; the rest is fixed per slice.
  std::size_t fixed_extra = block.size() + (a.flow_direction ? 1 : 0);
  const labels::pod_snapshot* index = st.pods && st.pods->num_ips() > 0 ? st.pods.get() : nullptr;
  const bool want_labels = index && a.pod_labels && st.cfg.enrichment.pod_labels;
  // antrea-proxy-semantics.md 2 step 3: InterNode records with an empty Pod name get the
  // name, namespace and Node from the index.
  const bool want_fill =
      index && plan.antrea && st.cfg.enrichment.fill_k8s_names && plan.flow_type >= 0;
  // One walk per record over its variable-length fields finds both the record's end and
  // any field read below; the agent session has validated every record already.
  auto body = slice.body;
  const std::size_t min_length = plan.layout.min_length();
  std::size_t pos = 0;
  while (min_length > 0 && body.size() - pos >= min_length) {
    auto rest = body.subspan(pos);
    ipfix::parse_error err;
    auto end = plan.layout.walk_varlen(rest, st.fields, err);
    if (end == 0)
      break;
    ipfix::bytes_view rec = rest.first(end);
    pos += end;
    auto field = [&](messages::field_index i) {
      return plan.layout.located(static_cast<std::size_t>(i), st.fields);
    };
    auto named = [&](messages::field_index i) { return i >= 0 && field(i).length > 0; };
    const bool src_named = named(plan.source_pod_name);
    const bool dst_named = named(plan.destination_pod_name);
    const std::uint8_t type = plan.flow_type >= 0 ? rec[field(plan.flow_type).offset] : 0;
    const bool fill_src = want_fill && type == flow_type_inter_node && !src_named;
    const bool fill_dst = want_fill && type == flow_type_inter_node && !dst_named;
    std::string_view src_labels, dst_labels;
    const labels::pod_entry* src_pod = nullptr;
    const labels::pod_entry* dst_pod = nullptr;
    if (want_labels || fill_src || fill_dst) {
      std::int64_t t = 0;
      if (plan.flow_start_seconds >= 0) {
        t = ipfix::read_u32(rec.data() + field(plan.flow_start_seconds).offset);
      } else if (plan.flow_start_milliseconds >= 0) {
        t = static_cast<std::int64_t>(
            ipfix::read_u64(rec.data() + field(plan.flow_start_milliseconds).offset) / 1000);
      }
      auto src_i = v4 ? plan.source_ipv4 : plan.source_ipv6;
      auto dst_i = v4 ? plan.destination_ipv4 : plan.destination_ipv6;
      auto key = [&](messages::field_index i) {
        auto* p = rec.data() + field(i).offset;
        return v4 ? labels::ipv4_key(p) : labels::ipv6_key(p);
      };
      src_pod = index->lookup(key(src_i), t);
      dst_pod = index->lookup(key(dst_i), t);
      if (want_labels) {
        st.status.label_lookups += 2;
        st.status.label_hits += (src_pod ? 1 : 0) + (dst_pod ? 1 : 0);
        src_labels = src_pod ? std::string_view{src_pod->labels_json} : std::string_view{};
        dst_labels = dst_pod ? std::string_view{dst_pod->labels_json} : std::string_view{};
      }
    }
    // flowDirection is decided from the names as received, before any are filled.
    const std::uint8_t direction = flow_direction(type, src_named, dst_named);
    if ((fill_src && src_pod) || (fill_dst && dst_pod)) {
      fill_names(plan, rec, field, fill_src ? src_pod : nullptr, fill_dst ? dst_pod : nullptr,
                 st.rewritten);
      rec = {st.rewritten.data(), st.rewritten.size()};
    }
    std::size_t labels_size =
        a.pod_labels ? varlen_size(src_labels.size()) + varlen_size(dst_labels.size()) : 0;
    std::size_t out_size = rec.size() + fixed_extra + labels_size;
    if (out_size > st.cfg.max_set_body) {
      ++drop;
      continue;
    }
    w.begin_record(out_size);
    // Sized once, then filled in place: no per-field growth checks.
    auto at = out.bytes.size();
    out.bytes.resize(at + out_size);
    auto* p = out.bytes.data() + at;
    std::memcpy(p, rec.data(), rec.size());
    p += rec.size();
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
  }
  if (drop > 0) {
    st.status.dropped_too_large += drop;
    if (st.dropped_too_large)
      st.dropped_too_large->Increment(static_cast<double>(drop));
  }
}

} // namespace

namespace {

constexpr std::uint64_t fnv_offset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t fnv_prime = 0x100000001b3ULL;

/// splitmix64's finaliser: every input bit affects every output bit.
std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

std::uint64_t fnv1a(const std::uint8_t* p, std::size_t n) {
  std::uint64_t h = fnv_offset;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= fnv_prime;
  }
  return h;
}

} // namespace

std::uint64_t destination_seed(std::string_view name) {
  return mix64(fnv1a(reinterpret_cast<const std::uint8_t*>(name.data()), name.size()));
}

std::uint64_t exporter_key(const std::array<std::uint8_t, 16>& address) {
  return mix64(fnv1a(address.data(), address.size()));
}

std::size_t rendezvous_pick(const std::vector<std::uint64_t>& seeds, std::uint64_t key) {
  std::size_t best = 0;
  std::uint64_t best_weight = 0;
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    // The weight of (destination, exporter): a strong mix of both hashes. The index
    // breaks (practically impossible) ties, so the choice is always deterministic.
    auto w = mix64(seeds[i] ^ key);
    if (i == 0 || w > best_weight) {
      best = i;
      best_weight = w;
    }
  }
  return best;
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
  if (cfg.fanout == fanout_mode::hash) {
    if (cfg.destination_names.size() != cfg.destinations.size() || cfg.destinations.empty()) {
      self->quit(caf::make_error(caf::sec::invalid_argument,
                                 "enricher: fanout hash needs one name per destination"));
      return enricher_actor::behavior_type::make_empty_behavior();
    }
    for (auto& n : cfg.destination_names)
      st.destination_seeds.push_back(destination_seed(n));
  }
  st.cfg = std::move(cfg);
  return counted_behavior{
      self,
      [=](messages::data_batch& batch) {
        auto& st = self->state;
        // Metrics once per batch (STYLE: histograms at batch granularity): the lookups
        // are counted per record in the status, and added to the counters from there.
        const auto started = std::chrono::steady_clock::now();
        const auto lookups_before = st.status.label_lookups;
        const auto hits_before = st.status.label_hits;
        auto payload = std::make_shared<messages::enriched_payload>();
        std::size_t in_size = 0;
        std::uint64_t in_records = 0;
        for (auto& s : batch.slices) {
          in_size += s.body.size();
          in_records += s.records;
        }
        payload->bytes.reserve(in_size + in_records * 64);
        // Consecutive slices with the same output template share sets: a UDP exporter's
        // datagrams (and small TCP messages) then leave in full sets and full messages,
        // not one short set per input set.
        std::optional<set_writer> w;
        for (auto& s : batch.slices) {
          if (!w || w->tmpl != s.plan->output) {
            if (w)
              w->close();
            w.emplace(*payload, s.plan->output, st.cfg.max_set_body);
          }
          enrich_slice(self, *batch.session, s, *payload, *w);
        }
        if (w)
          w->close();
        ++st.status.batches;
        st.status.records_in += in_records;
        st.status.records_out += payload->records;
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
        if (payload->sets.empty())
          return;
        payload->credit =
            std::make_unique<messages::credit>(batch.data->budgets(), payload->bytes.capacity());
        batch.data.reset();
        payload->session = batch.session;
        messages::enriched_batch out{std::move(payload)};
        if (st.cfg.fanout == fanout_mode::hash) {
          // Once per batch, never per record: every batch of a session has the same
          // exporter address, so all its records go to the same destination.
          const auto& session = out.payload->session;
          auto key = session ? exporter_key(session->peer_v6) : std::uint64_t{0};
          auto i = rendezvous_pick(st.destination_seeds, key);
          self->send(st.cfg.destinations[i], std::move(out));
          return;
        }
        for (auto& d : st.cfg.destinations)
          self->send(d, out);
      },
      [=](messages::label_snapshot& snap) { self->state.pods = std::move(snap.pods); },
      // Config reload: batches handled from here on go to the new destinations with the
      // new options. A bad update (hash without one name per destination) is refused
      // whole and the current configuration stays.
      [=](messages::enricher_reconfig& r) {
        auto& st = self->state;
        if (!r.cfg || r.cfg->destinations.empty() || r.cfg->max_set_body < 64 ||
            (r.cfg->fanout == fanout_mode::hash &&
             r.cfg->destination_names.size() != r.cfg->destinations.size()))
          return;
        st.destination_seeds.clear();
        if (r.cfg->fanout == fanout_mode::hash)
          for (auto& n : r.cfg->destination_names)
            st.destination_seeds.push_back(destination_seed(n));
        auto metrics = st.cfg.metrics;
        st.cfg = *r.cfg;
        st.cfg.metrics = metrics;
      },
      [=](caf::get_atom) { return self->state.status; },
  };
}

} // namespace fa::actors
