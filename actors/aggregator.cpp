#include "actors/aggregator.hpp"

#include "actors/actor_stats.hpp"
#include "ipfix/elements.hpp"
#include "ipfix/wire.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace fa::actors {

namespace {

using state_ptr = aggregator_pointer;

static_assert(flows::num_export_reasons == monitoring::aggregator_metrics::export_reasons.size());

/// The routes of `cfg`, checked (actors/fanout.hpp), or nullopt with `error` saying why.
std::optional<destination_set> routes_of(const aggregator_config& cfg, std::string& error) {
  if (cfg.max_set_body < 64) {
    error = "max_set_body too small";
    return std::nullopt;
  }
  return destination_set::make(cfg.routes(), error);
}

/// Encoders for the routes: one for fanout all, one per destination for fanout hash.
void use_routes(aggregator_state& st, destination_set routes) {
  for (const auto& e : st.encoders)
    st.status.too_large += e.num_too_large();
  st.encoders.clear();
  st.routes = std::move(routes);
  const std::size_t n = st.routes->keyed() ? st.routes->size() : 1;
  for (std::size_t i = 0; i < n; ++i)
    st.encoders.emplace_back(st.cfg.max_set_body);
}

/// What a blocking destination's credit is charged to: the receive budget, so one that
/// falls behind pauses the readers, as in proxy mode (DESIGN 3).
messages::session_budgets output_budgets(const aggregator_state& st) {
  return {st.cfg.output_budget, nullptr};
}

/// Sends what the encoders staged: with fanout all one payload to every destination,
/// with fanout hash each destination its own.
void send_exports(state_ptr self) {
  auto& st = self->state;
  std::vector<flows::encoded_set> sets;
  for (std::size_t e = 0; e < st.encoders.size(); ++e) {
    auto& enc = st.encoders[e];
    if (enc.staged_records() == 0)
      continue;
    auto payload = std::make_shared<messages::enriched_payload>();
    payload->bytes.reserve(enc.staged_bytes());
    sets.clear(); // finish appends: each payload describes only its own sets
    enc.finish(payload->bytes, sets);
    for (const auto& s : sets) {
      payload->sets.push_back({s.layout->output_template, s.offset, s.length, s.records});
      payload->records += s.records;
    }
    st.status.records_out += payload->records;
    ++st.status.payloads_out;
    std::shared_ptr<const messages::enriched_payload> shared = std::move(payload);
    auto send = send_from(self, *st.routes);
    if (st.routes->keyed()) {
      messages::payload_credit credit;
      st.routes->send_to(e, shared, output_budgets(st), credit, send);
      continue;
    }
    st.routes->route(shared, output_budgets(st), send);
  }
}

/// Hands each exported flow to the encoder of its destination: the only one with fanout
/// all, the flow key's rendezvous pick with fanout hash (a flow sticks to a destination
/// for its whole life, whichever shard or Node its records came from). What is staged is
/// sent once it reaches `max_payload`, so no call builds one huge output.
class export_sink final : public flows::flow_sink {
 public:
  explicit export_sink(state_ptr self)
      : self_(self) {}
  void on_export(const flows::flow_view& f, flows::export_reason) override {
    auto& st = self_->state;
    // Lag from the deadline the poll met; exports of eviction and drain have none.
    if (f.due != flows::clock_type::time_point{})
      st.lags.push_back(std::chrono::duration<float>(st.now - f.due).count());
    const std::size_t i = st.routes->pick(flows::hash(*f.key));
    st.encoders[i].add(f);
    if (st.encoders[i].staged_bytes() >= st.cfg.max_payload)
      send_exports(self_);
  }

 private:
  state_ptr self_;
};

/// Sends records of templates that cannot be aggregated on as they are; with fanout hash
/// by their exporter, as the enrichers do in proxy mode.
void forward(state_ptr self, std::shared_ptr<messages::enriched_payload> payload) {
  auto& st = self->state;
  st.routes->route(std::move(payload), output_budgets(st), send_from(self, *st.routes));
}

/// The aggregate layout of records of `t`, made and its output template interned on
/// first sight. A template that cannot be aggregated, or whose output template finds no
/// id left, gets a layout with `aggregatable` false: its records are forwarded.
const aggregator_state::layout_entry& layout_for(aggregator_state& st,
                                                 const messages::output_template_ptr& t) {
  for (auto& e : st.layouts)
    if (e.key == t.get() && e.alive.lock() == t)
      return e;
  auto l = flows::make_aggregate_layout(t->def);
  if (l->aggregatable) {
    l->output_template = st.cfg.templates ? st.cfg.templates->intern(l->output) : nullptr;
    if (!l->output_template) {
      l->aggregatable = false;
      l->why_not = "no output template id left";
    }
  }
  // An entry of a template that is gone (its address may be reused) is replaced.
  auto stale = std::find_if(st.layouts.begin(), st.layouts.end(),
                            [](const auto& e) { return e.alive.expired(); });
  if (stale == st.layouts.end())
    stale = st.layouts.emplace(st.layouts.end());
  const bool antrea = std::any_of(t->def.fields.begin(), t->def.fields.end(),
                                  [](const auto& f) { return f.enterprise == ipfix::antrea_pen; });
  *stale = {t.get(), t, std::move(l), antrea};
  return *stale;
}

/// Observes the lags of what was just sent, each with the time from the start of the
/// call to the sends (`sent`) added. One ObserveMultiple per call, not per record.
void publish_lags(aggregator_state& st, flows::clock_type::time_point sent) {
  if (st.lags.empty())
    return;
  if (st.metrics.export_lag) {
    const float handover = std::chrono::duration<float>(sent - st.now).count();
    const auto& b = monitoring::aggregator_metrics::export_lag_buckets();
    std::fill(st.lag_counts.begin(), st.lag_counts.end(), 0.0);
    double sum = 0;
    for (float lag : st.lags) {
      const double x = static_cast<double>(lag + handover);
      ++st.lag_counts[static_cast<std::size_t>(std::lower_bound(b.begin(), b.end(), x) -
                                               b.begin())];
      sum += x;
    }
    st.metrics.export_lag->ObserveMultiple(st.lag_counts, sum);
  }
  st.lags.clear();
}

/// Adds the table's counts since the last call to the metrics: once per batch or tick.
void publish(aggregator_state& st) {
  const auto now = st.table->stats();
  auto& m = st.metrics;
  auto& was = st.published;
  auto& s = st.status;
  s.flows = now.flows;
  s.pending = now.pending;
  s.state_bytes = now.state_bytes;
  s.created = now.created;
  s.correlated = now.correlated;
  s.out_of_date = now.out_of_date;
  s.exports.assign(now.exports.begin(), now.exports.end());
  s.unchanged = now.unchanged;
  s.expired = now.expired;
  s.evicted = now.evicted;
  s.uncorrelated_exported = now.uncorrelated_exported;
  s.uncorrelated_dropped = now.uncorrelated_dropped;
  if (m.flows) {
    m.flows->Set(static_cast<double>(now.flows));
    m.pending->Set(static_cast<double>(now.pending));
    m.state_bytes->Set(static_cast<double>(now.state_bytes));
    auto add = [](prometheus::Counter* c, std::uint64_t a, std::uint64_t b) {
      if (a > b)
        c->Increment(static_cast<double>(a - b));
    };
    auto updated = [](const flows::flow_table_stats& x) {
      return x.records - x.created - x.correlated - x.out_of_date - x.malformed -
             x.not_aggregatable;
    };
    add(m.records[0], now.created, was.created);
    add(m.records[1], updated(now), updated(was));
    add(m.records[2], now.correlated, was.correlated);
    add(m.records[3], now.out_of_date, was.out_of_date);
    add(m.records[4], now.malformed, was.malformed);
    for (std::size_t i = 0; i < m.exports.size(); ++i)
      add(m.exports[i], now.exports[i], was.exports[i]);
    add(m.uncorrelated_exported, now.uncorrelated_exported, was.uncorrelated_exported);
    add(m.uncorrelated_dropped, now.uncorrelated_dropped, was.uncorrelated_dropped);
    add(m.evictions, now.evicted, was.evicted);
    std::uint64_t too_large = s.too_large;
    for (const auto& e : st.encoders)
      too_large += e.num_too_large();
    add(m.too_large, too_large, st.published_too_large);
    st.published_too_large = too_large;
  }
  was = now;
}

std::string address_text(const flows::address& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (flows::is_v4(a))
    ::inet_ntop(AF_INET, a.data() + 12, buf, sizeof buf);
  else
    ::inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
  return buf;
}

/// A fixed-size unsigned field of a stored flow, 0 when the template lacks it.
std::uint64_t fixed_value(const flows::flow_view& f, flows::field_index i) {
  if (i < 0)
    return 0;
  const auto& l = *f.layout;
  const auto at = l.compact_offsets[static_cast<std::size_t>(i)];
  const auto len = l.input.fields[static_cast<std::size_t>(i)].length;
  if (at < 0 || len > 8)
    return 0;
  std::uint64_t v = 0;
  for (std::size_t k = 0; k < len; ++k)
    v = (v << 8) | f.fixed[static_cast<std::size_t>(at) + k];
  return v;
}

/// A string field of a stored flow by Antrea element id, "" when absent.
std::string string_field(const flows::flow_view& f, std::uint16_t id) {
  const auto& l = *f.layout;
  for (std::size_t i = 0; i < l.input.fields.size(); ++i) {
    const auto& spec = l.input.fields[i];
    if (spec.enterprise != ipfix::antrea_pen || spec.id != id || l.string_ranks[i] < 0)
      continue;
    auto v = flows::string_value(f.strings, static_cast<std::size_t>(l.string_ranks[i]));
    return {v.begin(), v.end()};
  }
  return {};
}

/// "namespace/name", or "" when the name is empty.
std::string pod_text(const flows::flow_view& f, std::uint16_t name_id, std::uint16_t ns_id) {
  auto name = string_field(f, name_id);
  if (name.empty())
    return name;
  return string_field(f, ns_id) + "/" + name;
}

messages::flow_row row_of(const flows::flow_view& f, std::uint32_t shard,
                          flows::clock_type::time_point now) {
  const auto& l = *f.layout;
  messages::flow_row r;
  r.shard = shard;
  r.source = address_text(f.key->source);
  r.destination = address_text(f.key->destination);
  r.source_port = f.key->source_port;
  r.destination_port = f.key->destination_port;
  r.protocol = f.key->protocol;
  r.flow_type = static_cast<std::uint8_t>(fixed_value(f, l.flow_type));
  r.state = !f.state->ready ? "pending" : f.state->correlated ? "correlated" : "single";
  // Antrea elements (reference c): sourcePodName 101, sourcePodNamespace 100,
  // destinationPodName 103, destinationPodNamespace 102.
  r.source_pod = pod_text(f, 101, 100);
  r.destination_pod = pod_text(f, 103, 102);
  r.packets = fixed_value(f, l.counters[flows::packet_total]);
  r.octets = fixed_value(f, l.counters[flows::octet_total]);
  r.reverse_packets = fixed_value(f, l.counters[flows::reverse_packet_total]);
  r.reverse_octets = fixed_value(f, l.counters[flows::reverse_octet_total]);
  r.idle_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::milliseconds>(now - f.last_seen).count()));
  return r;
}

/// At most this many flows in one page, whatever the query asks.
constexpr std::uint32_t max_page = 1000;

/// One bounded step of the poll (DESIGN 9), when one is under way or a tick's time has
/// come: called on the tick, on every batch (a clock read), and on the flush_atom a step
/// that stopped early sends itself. So exports leave on time however many batches queue
/// in front of the tick, and a burst of due flows goes out `export_step` flows at a time,
/// between batches, not as one stall and one huge output.
void poll_step(state_ptr self, flows::flow_sink& sink) {
  auto& st = self->state;
  if (!st.polling) {
    if (st.now < st.next_poll)
      return;
    st.polling = true;
    st.next_poll = st.now + st.cfg.tick;
  }
  if (st.table->poll(st.now, sink, std::max<std::size_t>(st.cfg.export_step, 1))) {
    st.polling = false;
    return;
  }
  if (!st.step_sent) {
    st.step_sent = true;
    self->send(self, caf::flush_atom_v);
  }
}

/// Sends what the call staged, observes its lags and publishes the counts.
void finish_call(state_ptr self) {
  auto& st = self->state;
  send_exports(self);
  publish_lags(st, self->clock().now());
  publish(st);
}

/// The tick: at the next poll's time, or a tick from now while a poll is under way.
void arm_tick(state_ptr self) {
  auto& st = self->state;
  const auto now = self->clock().now();
  auto wait = st.cfg.tick;
  if (!st.polling && st.next_poll > now)
    wait = std::chrono::ceil<std::chrono::milliseconds>(st.next_poll - now);
  self->delayed_send(self, wait, caf::tick_atom_v);
}

} // namespace

aggregator_actor::behavior_type aggregator(aggregator_pointer self, aggregator_config cfg) {
  std::string error;
  auto routes = routes_of(cfg, error);
  if (!routes) {
    self->quit(caf::make_error(caf::sec::invalid_argument, "aggregator: " + error));
    return aggregator_actor::behavior_type::make_empty_behavior();
  }
  auto& st = self->state;
  if (cfg.metrics) {
    st.metrics = cfg.metrics->aggregator(cfg.shard);
    st.forwarded_not_antrea = &cfg.metrics->unaggregated_records("not_antrea");
  }
  st.status.shard = cfg.shard;
  st.lag_counts.assign(monitoring::aggregator_metrics::export_lag_buckets().size() + 1, 0.0);
  st.status.max_flows = cfg.table.max_flows;
  st.table = std::make_unique<flows::flow_table>(cfg.table);
  st.cfg = std::move(cfg);
  use_routes(st, std::move(*routes));
  publish(st);
  st.next_poll = self->clock().now() + st.cfg.tick;
  arm_tick(self);
  return counted_behavior{
      self,
      [=](messages::enriched_batch& b) {
        auto& st = self->state;
        // Flows outlive the batch by a minute or more: what is kept is copied into the
        // table, and the session's credit goes at once (DESIGN 9).
        b.hold.reset();
        const auto now = st.now = self->clock().now();
        ++st.status.batches;
        export_sink sink{self};
        std::shared_ptr<messages::enriched_payload> fwd;
        std::uint64_t fwd_antrea = 0, fwd_foreign = 0;
        const auto& in = *b.payload;
        for (const auto& s : in.sets) {
          st.status.records_in += s.records;
          const auto& entry = layout_for(st, s.tmpl);
          const auto& layout = entry.layout;
          ipfix::bytes_view body{in.bytes.data() + s.offset, s.length};
          if (!layout->aggregatable) {
            (entry.antrea ? fwd_antrea : fwd_foreign) += s.records;
            // Once per set: the records go on as they are, in a payload of their own.
            if (!fwd) {
              fwd = std::make_shared<messages::enriched_payload>();
              fwd->session = in.session;
            }
            const auto at = static_cast<std::uint32_t>(fwd->bytes.size());
            fwd->bytes.insert(fwd->bytes.end(), body.begin(), body.end());
            // Their variable-length values go along for the destinations that read fields.
            const auto varlen = in.varlen_of(s, layout->record.num_varlen());
            auto first = messages::enriched_set::no_varlen;
            if (!varlen.empty()) {
              first = static_cast<std::uint32_t>(fwd->varlen.size());
              fwd->varlen.insert(fwd->varlen.end(), varlen.begin(), varlen.end());
            }
            fwd->sets.push_back({s.tmpl, at, s.length, s.records, first});
            fwd->records += s.records;
            continue;
          }
          const auto read = st.table->add_set(layout, body, now, sink,
                                              in.varlen_of(s, layout->record.num_varlen()));
          // A malformed record ends its set (counted by the table); the records after it
          // are lost with it and counted here.
          if (read < s.records) {
            st.status.malformed += s.records - read;
            if (st.metrics.records[4])
              st.metrics.records[4]->Increment(static_cast<double>(s.records - read));
          }
        }
        b.payload.reset();
        if (fwd) {
          st.status.forwarded += fwd->records;
          if (st.metrics.forwarded && fwd_antrea > 0)
            st.metrics.forwarded->Increment(static_cast<double>(fwd_antrea));
          if (st.forwarded_not_antrea && fwd_foreign > 0)
            st.forwarded_not_antrea->Increment(static_cast<double>(fwd_foreign));
          forward(self, std::move(fwd));
        }
        // Flows evicted to make room for new ones leave now, with a poll step when one
        // is under way or due.
        poll_step(self, sink);
        finish_call(self);
      },
      // Shutdown: every flow leaves (ready ones as they are, pending ones by
      // `uncorrelated`); the reply follows the sends, so a drain of the destinations
      // asked after it finds them queued.
      [=](drain_atom) {
        auto& st = self->state;
        st.now = self->clock().now();
        export_sink sink{self};
        st.table->drain(sink);
        st.polling = false;
        finish_call(self);
        return true;
      },
      [=](caf::get_atom) {
        const auto& st = self->state;
        messages::destination_status s;
        s.name = "aggregator-" + std::to_string(st.cfg.shard);
        s.state = "aggregating";
        s.sent_records = st.status.records_out;
        return s;
      },
      // Config reload: new routes and timeouts apply to every flow held; none is lost.
      // A bad update is refused whole and the current configuration stays.
      [=](messages::aggregator_reconfig& r) {
        auto& st = self->state;
        std::string error;
        auto routes = r.cfg ? routes_of(*r.cfg, error) : std::nullopt;
        if (!routes)
          return;
        auto next = *r.cfg;
        next.shard = st.cfg.shard;
        next.metrics = st.cfg.metrics;
        if (!next.templates)
          next.templates = st.cfg.templates;
        if (!next.output_budget)
          next.output_budget = st.cfg.output_budget;
        st.cfg = std::move(next);
        st.table->reconfigure(st.cfg.table);
        st.status.max_flows = st.cfg.table.max_flows;
        use_routes(st, std::move(*routes));
      },
      [=](caf::flush_atom) {
        auto& st = self->state;
        st.step_sent = false;
        st.now = self->clock().now();
        export_sink sink{self};
        poll_step(self, sink);
        finish_call(self);
      },
      [=](caf::tick_atom) {
        auto& st = self->state;
        st.now = self->clock().now();
        export_sink sink{self};
        poll_step(self, sink);
        finish_call(self);
        // Layouts of templates that are gone: flows still using one hold it themselves.
        st.layouts.erase(std::remove_if(st.layouts.begin(), st.layouts.end(),
                                        [](const auto& e) { return e.alive.expired(); }),
                         st.layouts.end());
        arm_tick(self);
      },
      [=](caf::get_atom, shard_atom) {
        auto& st = self->state;
        publish(st);
        auto s = st.status;
        for (const auto& e : st.encoders)
          s.too_large += e.num_too_large();
        return s;
      },
      [=](caf::get_atom, messages::flow_query& q) {
        auto& st = self->state;
        messages::flow_page page;
        flows::flow_filter filter;
        if (!q.ip.empty()) {
          flows::address a{};
          std::uint8_t v4[4];
          if (::inet_pton(AF_INET, q.ip.c_str(), v4) == 1)
            a = flows::ipv4_address(v4);
          else if (::inet_pton(AF_INET6, q.ip.c_str(), a.data()) != 1)
            return page; // the admin API refuses such a query before it gets here
          filter.ip = a;
        }
        if (q.port >= 0 && q.port <= 65535)
          filter.port = static_cast<std::uint16_t>(q.port);
        const auto now = self->clock().now();
        const std::size_t limit = std::min(q.limit, max_page);
        auto rest = st.table->list(filter, 0, limit, [&](const flows::flow_view& f) {
          page.flows.push_back(row_of(f, st.cfg.shard, now));
        });
        page.more = rest.has_value();
        return page;
      },
  };
}

void route_to_shards(enricher_config& ec, const std::vector<aggregator_actor>& shards) {
  ec.destinations.assign(shards.begin(), shards.end());
  ec.destination_blocks.assign(shards.size(), true);
  ec.fanout = fanout_mode::all;
  ec.destination_names.clear();
  // One shard takes whole batches; several take each record by its flow key.
  ec.split_by_flow = shards.size() > 1;
  // The shards read every record's fields (flow_table::add_set).
  ec.record_varlen = true;
}

} // namespace fa::actors
