#include "actors/agent_session.hpp"

#include "actors/actor_stats.hpp"
#include "actors/template_planner.hpp"
#include "base/unix_time.hpp"
#include "ipfix/message.hpp"
#include "ipfix/record.hpp"
#include "ipfix/record_room.hpp"
#include "messages/transport_name.hpp"
#include "monitoring/log.hpp"
#include "monitoring/rate_limited_log.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <utility>

namespace fa::actors {

namespace {

std::uint64_t plan_key(std::uint32_t odid, std::uint16_t id) {
  return (std::uint64_t{odid} << 16) | id;
}

using state_ptr = agent_session_actor::stateful_pointer<agent_session_state>;

void count_malformed(state_ptr self, std::string_view reason) {
  auto& st = self->state;
  ++st.status.malformed;
  if (st.cfg.metrics)
    st.cfg.metrics->malformed(reason).Increment();
  if (!monitoring::log_enabled(monitoring::log_level::warn))
    return;
  if (auto suppressed = st.malformed_log.admit())
    monitoring::log(monitoring::log_level::warn, "malformed input discarded",
                    {{"session", std::to_string(st.status.id)},
                     {"peer", st.status.peer},
                     {"reason", std::string{reason}},
                     {"malformed", std::to_string(st.status.malformed)},
                     {"suppressed", std::to_string(*suppressed)}});
}

/// Rate-limited warnings (monitoring/rate_limited_log.hpp): an exporter repeats its
/// mistakes in every message; the metrics count each one, the log says it now and then.
void warn_unknown_template(state_ptr self, std::uint32_t odid, std::uint16_t id) {
  auto& st = self->state;
  if (!monitoring::log_enabled(monitoring::log_level::warn))
    return;
  if (auto suppressed = st.unknown_template_log.admit())
    monitoring::log(monitoring::log_level::warn, "data set for an unknown template dropped",
                    {{"session", std::to_string(st.status.id)},
                     {"peer", st.status.peer},
                     {"odid", std::to_string(odid)},
                     {"template_id", std::to_string(id)},
                     {"suppressed", std::to_string(*suppressed)}});
}

void warn_sequence(state_ptr self, std::uint32_t odid, std::uint32_t seq,
                   const ipfix::sequence_check& check) {
  auto& st = self->state;
  if (!monitoring::log_enabled(monitoring::log_level::warn))
    return;
  if (auto suppressed = st.sequence_log.admit())
    monitoring::log(monitoring::log_level::warn,
                    check.reset  ? "sequence reset: implausible jump, not counted as loss"
                    : check.lost ? "sequence gap: records lost upstream"
                                 : "message out of order",
                    {{"session", std::to_string(st.status.id)},
                     {"peer", st.status.peer},
                     {"odid", std::to_string(odid)},
                     {"sequence", std::to_string(seq)},
                     {"lost", std::to_string(check.lost)},
                     {"lost_total", std::to_string(st.status.lost_records)},
                     {"suppressed", std::to_string(*suppressed)}});
}

void count_malformed(state_ptr self, ipfix::parse_error err) {
  count_malformed(self, ipfix::to_string(err));
}

/// Keeps status.templates, status.template_bytes and the per-transport gauges of live
/// templates and their charge in step with the store; the gauges move by the
/// difference, so sessions add up.
void publish_template_count(state_ptr self) {
  auto& st = self->state;
  auto now = st.templates.size();
  auto bytes = st.templates.charged();
  if (st.metrics.templates_in)
    st.metrics.templates_in->Increment(static_cast<double>(now) -
                                       static_cast<double>(st.status.templates));
  if (st.metrics.template_bytes)
    st.metrics.template_bytes->Increment(static_cast<double>(bytes) -
                                         static_cast<double>(st.status.template_bytes));
  st.status.templates = now;
  st.status.template_bytes = bytes;
}

/// The config key behind a refused template, for the warning.
std::string_view refusal_limit(ipfix::template_event ev) {
  switch (ev) {
  case ipfix::template_event::exporter_budget:
    return "collector.template_budget_per_exporter";
  case ipfix::template_event::process_budget:
    return "collector.template_budget";
  default:
    return "collector.max_templates_per_session";
  }
}

void note_template_event(state_ptr self, ipfix::template_event ev, std::uint32_t odid,
                         std::uint16_t id) {
  auto& st = self->state;
  using ipfix::template_event;
  if (ev != template_event::added && ev != template_event::refreshed &&
      ev != template_event::replaced && ev != template_event::withdrawn &&
      ev != template_event::withdrawn_all && ev != template_event::expired)
    ++st.status.template_events;
  if (st.cfg.metrics)
    st.cfg.metrics->template_event(ipfix::to_string(ev)).Increment();
  // A refused template is counted above (template_events_total{event}); its data sets
  // will be data for an unknown template. Say why, rate-limited.
  if (!ipfix::is_refusal(ev) || !monitoring::log_enabled(monitoring::log_level::warn))
    return;
  if (auto suppressed = st.refusal_log.admit())
    monitoring::log(monitoring::log_level::warn, "template refused",
                    {{"session", std::to_string(st.status.id)},
                     {"peer", st.status.peer},
                     {"odid", std::to_string(odid)},
                     {"template_id", std::to_string(id)},
                     {"reason", std::string{ipfix::to_string(ev)}},
                     {"limit", std::string{refusal_limit(ev)}},
                     {"suppressed", std::to_string(*suppressed)}});
}

// Applies one template set: records before a malformed one still count (RFC 7011 9.1:
// the rest of the set cannot be trusted).
void apply_template_set(state_ptr self, std::uint32_t odid, const ipfix::set_view& set) {
  auto& st = self->state;
  auto now = ipfix::clock_type::now();
  auto err = ipfix::parse_template_set(set.id, set.body, [&](ipfix::template_record&& rec) {
    std::vector<std::uint16_t> removed;
    auto ev = st.templates.apply(odid, set.id, rec, now, &removed);
    note_template_event(self, ev, odid, rec.def.id);
    for (auto id : removed)
      st.plans.erase(plan_key(odid, id));
    using ipfix::template_event;
    if (ev == template_event::added || ev == template_event::replaced ||
        ev == template_event::redefined) {
      // No output id yet: the first data set takes one (issue 16 defect 2).
      auto plan = plan_template(rec.def, odid, st.cfg.enrichment);
      if (plan)
        st.plans[plan_key(odid, rec.def.id)] = plan_entry{std::move(plan), {}};
      else
        st.plans.erase(plan_key(odid, rec.def.id)); // counted as unknown-template data
    }
  });
  if (err != ipfix::parse_error::none)
    count_malformed(self, err);
  publish_template_count(self);
}

/// UDP: datagrams the reader discarded as malformed (counted by reason there, in
/// net/udp_listener) are warned about here, with the session's rate limit.
void count_malformed_datagrams(state_ptr self, std::uint64_t n) {
  auto& st = self->state;
  if (!monitoring::log_enabled(monitoring::log_level::warn))
    return;
  if (auto suppressed = st.malformed_log.admit())
    monitoring::log(monitoring::log_level::warn, "malformed datagrams discarded",
                    {{"session", std::to_string(st.status.id)},
                     {"peer", st.status.peer},
                     {"datagrams", std::to_string(n)},
                     {"malformed", std::to_string(st.status.malformed)},
                     {"suppressed", std::to_string(*suppressed)}});
}

/// Issue 16 defect 2: all 65,280 output ids are in use. Not the exporter's fault and not
/// an unknown template: the set's records are counted as received and dropped, by this
/// reason.
void drop_for_want_of_an_id(state_ptr self, std::uint32_t odid, std::uint16_t id,
                            std::uint32_t records) {
  auto& st = self->state;
  ++st.status.no_output_id_sets;
  if (st.no_id_records)
    st.no_id_records->Increment(records);
  if (!monitoring::log_enabled(monitoring::log_level::warn))
    return;
  if (auto suppressed = st.no_id_log.admit())
    monitoring::log(monitoring::log_level::warn, "no output template id free: data set dropped",
                    {{"session", std::to_string(st.status.id)},
                     {"peer", st.status.peer},
                     {"odid", std::to_string(odid)},
                     {"template_id", std::to_string(id)},
                     {"records", std::to_string(records)},
                     {"output_templates", std::to_string(st.cfg.table->size())},
                     {"suppressed", std::to_string(*suppressed)}});
}

/// How many variable-length values to make room for in a batch of `chunk`, at its first
/// data set of a template that has any (`body`): as many as the rest of the chunk could
/// hold in records of this template (`ipfix::room_for`, the rule the walk gives each set),
/// so the vector never regrows while the chunk's sets are of this template: a regrowth
/// moved every value walked so far, about 40 instructions per record (issue 15).
std::size_t varlen_estimate(ipfix::bytes_view chunk, ipfix::bytes_view body,
                            const ipfix::record_layout& layout) {
  return ipfix::room_for(static_cast<std::size_t>(chunk.data() + chunk.size() - body.data()),
                         layout);
}

void handle_frames(state_ptr self, messages::chunk_ptr data) {
  auto& st = self->state;
  const auto clock_now = self->clock().now();
  messages::data_batch batch;
  batch.session = st.cfg.info;
  auto bytes = data->bytes();
  std::size_t pos = 0;
  std::uint64_t records_total = 0;
  std::uint64_t messages_total = 0;
  auto now = ipfix::clock_type::now();
  const bool udp = st.templates.config().transport == ipfix::transport_kind::udp;
  // Data sets walked ahead, beside a set of a message before them, in message order:
  // each one's body, the plan it was walked with (held, so no other plan can take its
  // address), what was found and where its values lie in the batch's (walked straight
  // there, so a set reached takes them in place, issue 15).
  struct walked_set {
    ipfix::bytes_view body;
    messages::template_plan_ptr plan;
    ipfix::sliced_records found;
    std::size_t first_varlen = 0;
  };
  std::array<walked_set, ipfix::max_side_by_side - 1> ahead;
  std::size_t ahead_next = 0, ahead_end = 0; // the sets not yet reached: [next, end)
  // The batch's values end at the last walked-ahead set's; while any is still to come,
  // values dropped (a malformed message, a set with no output id) are left in place
  // rather than cut from the end, which would cut those sets' values too.
  std::size_t ahead_values_end = 0;
  const auto drop_values_from = [&](std::size_t at) {
    batch.varlen.values.resize(
        std::max(at, ahead_next < ahead_end ? ahead_values_end : std::size_t{0}));
  };
  while (pos < bytes.size()) {
    // Never trust a length before checking it (RFC 7011 9.1): a length that does not
    // advance, or runs past the chunk, ends the chunk.
    std::size_t len = bytes.size() - pos >= ipfix::message_header_size
                          ? ipfix::read_u16(bytes.data() + pos + 2)
                          : 0;
    if (len < ipfix::message_header_size || len > bytes.size() - pos) {
      count_malformed(self, len == 0 && bytes.size() - pos < ipfix::message_header_size
                                ? ipfix::parse_error::short_header
                                : ipfix::parse_error::bad_message_length);
      break;
    }
    auto msg_bytes = bytes.subspan(pos, len);
    pos += len;
    ++messages_total;
    ipfix::message_view msg;
    if (auto err = ipfix::message_view::parse(msg_bytes, msg); err != ipfix::parse_error::none) {
      count_malformed(self, err);
      continue;
    }
    auto odid = msg.header().observation_domain_id;
    std::uint32_t records_in_message = 0;
    auto first_slice = batch.slices.size();
    auto first_varlen_of_message = batch.varlen.values.size();
    bool bad = false;
    msg.for_each_set([&](const ipfix::set_view& set) {
      if (bad)
        return;
      if (set.kind() != ipfix::set_kind::data_set) {
        apply_template_set(self, odid, set);
        return;
      }
      auto i = st.plans.find(plan_key(odid, set.id));
      // RFC 7011 8.4: a UDP template not refreshed in time has expired; its plan goes too.
      if (udp && i != st.plans.end() && !st.templates.find(odid, set.id, now)) {
        st.plans.erase(i);
        i = st.plans.end();
        publish_template_count(self);
      }
      if (i == st.plans.end()) {
        // RFC 7011 11.4: over TCP the template always precedes its data, so this is an
        // exporter error; the set is dropped and counted.
        ++st.status.unknown_template_sets;
        if (st.metrics.unknown_template_sets)
          st.metrics.unknown_template_sets->Increment();
        warn_unknown_template(self, odid, set.id);
        return;
      }
      auto& entry = i->second;
      const auto& layout = entry.plan->layout;
      auto& varlen = batch.varlen.values;
      if (!layout.fixed() && varlen.capacity() == 0)
        varlen.reserve(varlen_estimate(bytes, set.body, layout));
      // The one walk over each record (issue 15): validates it and keeps where its
      // variable-length values lie, for the enricher.
      std::size_t first_varlen = varlen.size();
      const auto found = [&] {
        // A set walked ahead is taken when this is it and its plan has not changed since;
        // one this set is past was never reached (its message was malformed), and one
        // walked with another plan is walked again now. Their values stay unused.
        while (ahead_next < ahead_end && ahead[ahead_next].body.data() <= set.body.data()) {
          const std::size_t i = ahead_next++;
          auto walked = std::exchange(ahead[i], {});
          if (walked.body.data() == set.body.data() && walked.body.size() == set.body.size() &&
              walked.plan == entry.plan) {
            first_varlen = walked.first_varlen;
            return walked.found;
          }
        }
        // The walk of a record is a chain of dependent loads: walked beside the next
        // messages' first sets when they are of the same template (the common case of an
        // exporter's stream), up to four chains overlap (issue 15). Not while sets walked
        // ahead are still to come.
        std::array<ipfix::bytes_view, ipfix::max_side_by_side> bodies{set.body};
        std::size_t m = 1;
        if (!layout.fixed() && ahead_next == ahead_end)
          for (auto rest = bytes.subspan(pos); m < bodies.size(); ++m) {
            const auto next = ipfix::peek_first_set(rest);
            if (!next || next->id != set.id ||
                ipfix::peek_header(rest)->observation_domain_id != odid)
              break;
            bodies[m] = next->body;
            rest = rest.subspan(ipfix::read_u16(rest.data() + 2)); // checked by the peek
          }
        first_varlen = varlen.size();
        if (m == 1)
          return ipfix::slice_records(set.body, layout, varlen);
        std::array<std::size_t, ipfix::max_side_by_side> starts;
        std::array<ipfix::sliced_records, ipfix::max_side_by_side> results;
        ipfix::slice_records_in_place({bodies.data(), m}, layout, varlen, {starts.data(), m},
                                      {results.data(), m});
        for (std::size_t i = 1; i < m; ++i)
          ahead[i - 1] = walked_set{bodies[i], entry.plan, results[i], starts[i]};
        ahead_next = 0;
        ahead_end = m - 1;
        ahead_values_end = varlen.size();
        return results[0];
      }();
      if (found.error != ipfix::parse_error::none) {
        // A malformed set discards the whole message (RFC 7011 9.1): its sequence
        // number cannot be checked either.
        count_malformed(self, found.error);
        bad = true;
        return;
      }
      const auto n = static_cast<std::uint32_t>(found.records);
      records_in_message += n;
      if (n == 0)
        return;
      // Issue 16 defect 2: the output id is taken when data first needs it.
      if (!entry.plan->output) {
        auto bound = bind_output(*entry.plan, *st.cfg.table);
        if (!bound) {
          drop_for_want_of_an_id(self, odid, set.id, n);
          drop_values_from(first_varlen);
          return;
        }
        entry.plan = std::move(bound);
      }
      entry.last_used = clock_now;
      batch.slices.push_back({entry.plan, set.body.first(found.consumed), n,
                              static_cast<std::uint32_t>(first_varlen)});
    });
    if (bad) {
      batch.slices.resize(first_slice);
      drop_values_from(first_varlen_of_message);
      continue;
    }
    auto check = st.sequences.observe(odid, msg.header().sequence, records_in_message);
    st.status.lost_records += check.lost;
    if (check.out_of_order)
      ++st.status.out_of_order_messages;
    if (st.metrics.lost_records && check.lost)
      st.metrics.lost_records->Increment(static_cast<double>(check.lost));
    if (st.metrics.out_of_order && check.out_of_order)
      st.metrics.out_of_order->Increment();
    if (check.reset) {
      ++st.status.sequence_resets;
      if (st.metrics.sequence_resets)
        st.metrics.sequence_resets->Increment();
    }
    if (st.exporter.lost_records && check.lost)
      st.exporter.lost_records->Increment(static_cast<double>(check.lost));
    if (check.lost || check.out_of_order || check.reset)
      warn_sequence(self, odid, msg.header().sequence, check);
    records_total += records_in_message;
    if (std::find(st.status.odids.begin(), st.status.odids.end(), odid) == st.status.odids.end())
      st.status.odids.push_back(odid);
  }
  st.status.messages += messages_total;
  st.status.records += records_total;
  st.status.bytes += bytes.size();
  if (st.metrics.messages) {
    st.metrics.messages->Increment(static_cast<double>(messages_total));
    st.metrics.records->Increment(static_cast<double>(records_total));
    st.metrics.bytes->Increment(static_cast<double>(bytes.size()));
  }
  if (st.exporter.messages) {
    st.exporter.messages->Increment(static_cast<double>(messages_total));
    st.exporter.records->Increment(static_cast<double>(records_total));
    st.exporter.bytes->Increment(static_cast<double>(bytes.size()));
  }
  if (!batch.varlen.values.empty())
    batch.varlen.charge(data->budgets());
  if (!batch.slices.empty()) {
    batch.data = std::move(data);
    self->send(st.cfg.enricher, std::move(batch));
  }
}

// RFC 7011 8.4: UDP templates not refreshed within their lifetime expire. Data for them
// is already refused when it arrives; this also forgets them (plans, the live-template
// gauge, status) when their exporter moved on. At most a few times per lifetime, and
// only when the session hears from its reader, never per record.
void expire_udp_templates(state_ptr self, ipfix::clock_type::time_point now) {
  auto& st = self->state;
  if (st.templates.config().transport != ipfix::transport_kind::udp || now < st.next_expiry)
    return;
  st.next_expiry = now + std::min<ipfix::clock_type::duration>(
                             st.templates.config().udp_lifetime / 4, std::chrono::seconds{1});
  auto gone = st.templates.expire(now);
  if (gone.empty())
    return;
  for (auto [odid, id] : gone) {
    st.plans.erase(plan_key(odid, id));
    note_template_event(self, ipfix::template_event::expired, odid, id);
  }
  publish_template_count(self);
}

/// Issue 16 defect 2: output ids no data of this session used within `output_id_idle`
/// are given back (the plan keeps everything else), so idle templates do not hold ids
/// that others need; once no session or queued batch holds an id, it is free. Swept
/// when the session hears from its reader, at most four times per idle time, never per
/// record; a session that falls silent keeps its ids until it speaks again or ends
/// (collector.tcp_idle_timeout, udp_idle_timeout). No timer of its own: a pending
/// delayed message would keep the actor alive after its handles are gone (STYLE).
void release_idle_ids(state_ptr self, caf::actor_clock::time_point now) {
  auto& st = self->state;
  if (now < st.next_id_sweep)
    return;
  st.next_id_sweep = now + st.cfg.output_id_idle / 4;
  for (auto& [key, entry] : st.plans)
    if (entry.plan->output && now - entry.last_used >= st.cfg.output_id_idle)
      entry.plan = unbind_output(*entry.plan);
}

} // namespace

agent_session_actor::behavior_type
agent_session(agent_session_actor::stateful_pointer<agent_session_state> self,
              agent_session_config cfg) {
  auto& st = self->state;
  if (!cfg.info || !cfg.table || !cfg.enricher) {
    self->quit(caf::make_error(caf::sec::invalid_argument, "agent_session: incomplete config"));
    return agent_session_actor::behavior_type::make_empty_behavior();
  }
  st.templates = ipfix::template_store{cfg.templates};
  st.status.id = cfg.info->id;
  st.status.transport = messages::transport_name(cfg.info->proto);
  st.status.peer = cfg.info->peer_text;
  st.status.since = base::unix_seconds();
  if (cfg.metrics)
    st.metrics = cfg.metrics->session(st.status.transport);
  if (cfg.metrics) {
    st.exporter = cfg.metrics->exporter(monitoring::exporter_address(st.status.peer));
    st.no_id_records = &cfg.metrics->enrich_dropped("template_ids_exhausted");
  }
  if (cfg.output_id_idle <= caf::timespan::zero())
    cfg.output_id_idle = std::chrono::minutes{10};
  // sessions_closed_total by reason: the transport's, or "shutdown" for a session
  // stopped without one (the supervisor's stop). Counted before on_end, so the session
  // is closed in the metrics when the supervisor forgets it.
  st.end_reason = std::make_shared<std::string>();
  if (cfg.on_end || cfg.metrics)
    self->attach_functor([on_end = cfg.on_end, m = cfg.metrics, transport = st.status.transport,
                          reason = st.end_reason] {
      if (m)
        m->sessions_closed(transport, reason->empty() ? std::string_view{"shutdown"}
                                                      : monitoring::session_close_reason(*reason))
            .Increment();
      if (on_end)
        on_end();
    });
  st.cfg = std::move(cfg);
  st.next_id_sweep = self->clock().now() + st.cfg.output_id_idle / 4;
  return counted_behavior{
      self,
      [=](messages::frames& f) {
        auto& st = self->state;
        // Counted in the metrics by the UDP reader already (net/udp_listener).
        st.status.budget_drops += f.budget_drops;
        st.status.malformed += f.malformed_datagrams;
        if (f.malformed_datagrams > 0)
          count_malformed_datagrams(self, f.malformed_datagrams);
        expire_udp_templates(self, ipfix::clock_type::now());
        release_idle_ids(self, self->clock().now());
        if (f.data)
          handle_frames(self, std::move(f.data));
      },
      // RFC 7011 8: the end of a TCP session withdraws all of its templates; they die
      // with the state, and output ids are recycled once no batch uses them.
      [=](caf::close_atom, const std::string& reason) {
        if (self->state.end_reason && self->state.end_reason->empty())
          *self->state.end_reason = reason;
        // A stream the framer could not trust is malformed input of this session.
        if (reason == "bad_version" || reason == "bad_message_length" ||
            reason == "message_too_large")
          count_malformed(self, reason);
        if (reason == "message_timeout") {
          // Its partial message is dropped; many slow exporters share one rate limit.
          static monitoring::shared_log_rate_limiter timeouts;
          if (auto suppressed = timeouts.admit())
            monitoring::log(monitoring::log_level::warn, "session closed: message incomplete",
                            {{"peer", self->state.status.peer},
                             {"reason", reason},
                             {"suppressed", std::to_string(*suppressed)}});
        }
        // RFC 7011 8: the end of the session withdraws its templates.
        self->state.templates.clear();
        publish_template_count(self);
        self->quit();
      },
      // Config reload: every live template is planned again with the new options, so the
      // next data sets leave with the new output layout. Its output template gets its own
      // id when its next data set needs it, and the destinations announce it before its
      // first record (RFC 7011 8).
      [=](messages::enrichment_update& u) {
        auto& st = self->state;
        if (!u.options)
          return;
        st.cfg.enrichment = *u.options;
        for (auto& [key, entry] : st.plans)
          if (auto next = plan_template(entry.plan->input, entry.plan->odid, st.cfg.enrichment))
            entry.plan = std::move(next);
      },
      [=](caf::get_atom) {
        // Inspection only (the admin API's templates view): built per request.
        auto status = self->state.status;
        for (const auto& [key, entry] : self->state.plans) {
          const auto& plan = entry.plan;
          messages::template_mapping m;
          m.odid = plan->odid;
          m.input_id = plan->input.id;
          m.output_id = plan->output ? plan->output->id : 0;
          m.options = plan->input.is_options();
          m.antrea = plan->antrea;
          for (const auto& f : plan->input.fields)
            m.input.push_back({f.enterprise, f.id, f.length});
          for (const auto& f : appended_specs(plan->append))
            m.appended.push_back({f.enterprise, f.id, f.length});
          status.template_mappings.push_back(std::move(m));
        }
        return status;
      },
  };
}

} // namespace fa::actors
