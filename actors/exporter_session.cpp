#include "actors/exporter_session.hpp"

#include "actors/actor_stats.hpp"
#include "base/unix_time.hpp"
#include "ipfix/message.hpp"
#include "ipfix/template.hpp"
#include "ipfix/wire.hpp"
#include "monitoring/log.hpp"

#include <cstring>

namespace fa::actors {

namespace {

using state_ptr = exporter_session_actor::stateful_pointer<exporter_session_state>;

/// Memory of one write: headers and template sets built here, plus the payloads whose
/// bodies are written in place.
struct job_memory {
  std::vector<std::uint8_t> owned;
  std::vector<std::shared_ptr<const messages::enriched_payload>> payloads;
};

/// A piece of the gather list: octets of `owned` or octets of a payload.
struct piece {
  const std::uint8_t* external = nullptr;
  std::size_t offset = 0;
  std::size_t length = 0;
};

void set_state(state_ptr self, const char* s) {
  self->state.status.state = s;
}

void publish_queue(state_ptr self) {
  auto& st = self->state;
  st.status.queued_bytes = st.queued_bytes;
  st.status.queued_batches = st.queue.size();
  if (st.metrics.queue_bytes)
    st.metrics.queue_bytes->Set(static_cast<double>(st.queued_bytes));
}

void answer_drains(state_ptr self) {
  auto& st = self->state;
  if (!st.queue.empty())
    return;
  for (auto& rp : st.drains)
    rp.deliver(true);
  st.drains.clear();
}

void arm_flush(state_ptr self) {
  auto& st = self->state;
  if (st.flush_armed || st.unsent_bytes == 0)
    return;
  st.flush_armed = true;
  auto age = self->clock().now() - st.oldest_unsent;
  auto wait = st.cfg.flush_interval - std::chrono::duration_cast<std::chrono::milliseconds>(age);
  if (wait < std::chrono::milliseconds{0})
    wait = std::chrono::milliseconds{0};
  self->delayed_send(self, wait, caf::flush_atom_v, ++st.flush_gen);
}

void start_write(state_ptr self, bool force);

void try_send(state_ptr self, bool force = false) {
  auto& st = self->state;
  if (!st.connected || st.writing || st.unsent_bytes == 0)
    return;
  bool flush_due = force || !st.drains.empty() ||
                   self->clock().now() - st.oldest_unsent >= st.cfg.flush_interval;
  if (!flush_due && st.unsent_bytes + ipfix::message_header_size < st.cfg.max_message_size) {
    arm_flush(self);
    return;
  }
  start_write(self, flush_due);
}

// Packs whole sets from the unsent part of the queue into messages (RFC 7011 3.1: each
// with our own export time, sequence number and ODID) and writes them in one gather
// write. A partial last message is only sent when a flush is due.
void start_write(state_ptr self, bool flush_due) {
  auto& st = self->state;
  auto mem = std::make_shared<job_memory>();
  auto& owned = mem->owned;
  std::vector<piece> pieces;
  const std::size_t mms = st.cfg.max_message_size;
  auto export_time = static_cast<std::uint32_t>(base::unix_seconds());
  const bool udp = st.cfg.datagram;
  const auto now = self->clock().now();
  std::vector<std::uint32_t> datagrams; // UDP: pieces per message
  std::size_t msg_first_piece = 0;
  bool msg_open = false;
  std::size_t msg_start = 0, msg_size = 0, job_size = 0, remaining = st.unsent_bytes;
  std::uint32_t msg_seq = 0;
  std::uint64_t records = 0, messages = 0;
  std::size_t sets = 0, bytes = 0;
  // TCP/TLS: where each set's message ends in the write, to know when the collector's
  // TCP acknowledged it (a collector only decodes whole messages).
  auto& ends = st.inflight_ends;
  ends.clear();
  std::size_t msg_first_set = 0;
  auto close_message = [&] {
    if (!msg_open)
      return;
    auto* h = owned.data() + msg_start;
    ipfix::write_u16(h, ipfix::ipfix_version);
    ipfix::write_u16(h + 2, static_cast<std::uint16_t>(msg_size));
    ipfix::write_u32(h + 4, export_time);
    ipfix::write_u32(h + 8, msg_seq);
    ipfix::write_u32(h + 12, st.cfg.observation_domain_id);
    job_size += msg_size;
    if (!udp)
      std::fill(ends.begin() + static_cast<std::ptrdiff_t>(msg_first_set), ends.end(), job_size);
    ++messages;
    msg_open = false;
    if (udp) {
      datagrams.push_back(static_cast<std::uint32_t>(pieces.size() - msg_first_piece));
      ++st.messages_since_refresh;
    }
  };
  auto add_owned = [&](std::size_t from) {
    pieces.push_back({nullptr, from, owned.size() - from});
  };
  auto open_message = [&] {
    // RFC 7011 8.4: over UDP, templates are sent again periodically; clearing what the
    // collector is assumed to know makes this message (and the next ones) announce
    // every template before its data again.
    if (udp && (now - st.last_refresh >= st.cfg.template_refresh ||
                (st.cfg.template_refresh_messages > 0 &&
                 st.messages_since_refresh >= st.cfg.template_refresh_messages))) {
      st.announced.clear();
      st.last_refresh = now;
      st.messages_since_refresh = 0;
    }
    msg_first_piece = pieces.size();
    msg_first_set = ends.size();
    msg_start = owned.size();
    owned.resize(owned.size() + ipfix::message_header_size);
    add_owned(msg_start);
    msg_size = ipfix::message_header_size;
    msg_seq = st.sequence;
    msg_open = true;
  };
  bool stop = false;
  for (std::size_t qi = 0; qi < st.queue.size() && !stop; ++qi) {
    auto& entry = st.queue[qi];
    auto& sets_of = entry.payload->sets;
    std::size_t first = entry.next_set;
    bool used = false;
    for (std::size_t si = first; si < entry.end_set; ++si) {
      auto& s = sets_of[si];
      bool announce = false, withdraw = false;
      std::size_t tmpl_bytes = 0;
      auto decide = [&] {
        auto ann = st.announced.find(s.tmpl->id);
        auto known = ann != st.announced.end() ? ann->second.lock() : nullptr;
        announce = known != s.tmpl;
        // RFC 7011 8.4: never a withdrawal over UDP; the new definition replaces the old.
        // Over TCP an id announced with another layout, or whose template is gone (the
        // layout it had is unknown now), is withdrawn first (RFC 7011 8).
        withdraw = !udp && announce && ann != st.announced.end() &&
                   (!known || !known->def.same_layout(s.tmpl->def));
        tmpl_bytes =
            announce ? ipfix::set_header_size + (withdraw ? 4 : 0) + s.tmpl->def.encoded_size() : 0;
      };
      decide();
      std::size_t set_bytes = ipfix::set_header_size + s.length;
      if (msg_open && msg_size + tmpl_bytes + set_bytes > mms)
        close_message();
      if (!msg_open) {
        // UDP after a refusal: one message first. If the collector is still down, only
        // that datagram is lost (its ICMP error fails the next write, which is kept).
        if (job_size >= st.cfg.max_write || (udp && st.probe && messages > 0) ||
            (!flush_due && remaining + ipfix::message_header_size < mms)) {
          stop = true;
          break;
        }
        open_message();
        decide(); // a template refresh may have started with this message
      }
      auto from = owned.size();
      if (announce) {
        // RFC 7011 8: an id gets a new definition only after its withdrawal (TCP).
        auto set_at = owned.size();
        owned.resize(owned.size() + ipfix::set_header_size);
        ipfix::write_u16(owned.data() + set_at, ipfix::template_set_id);
        if (withdraw) {
          auto w = owned.size();
          owned.resize(w + 4);
          ipfix::write_u16(owned.data() + w, s.tmpl->id);
          ipfix::write_u16(owned.data() + w + 2, 0);
        }
        if (s.tmpl->def.is_options())
          ipfix::write_u16(owned.data() + set_at, ipfix::options_template_set_id);
        ipfix::encode_template_record(s.tmpl->def, owned);
        ipfix::write_u16(owned.data() + set_at + 2,
                         static_cast<std::uint16_t>(owned.size() - set_at));
        st.announced[s.tmpl->id] = s.tmpl;
        ++st.status.templates_announced;
        if (msg_size + tmpl_bytes + set_bytes > mms) {
          // The template and a set of the largest size the enricher makes do not fit
          // one message together: the template goes alone, the set follows.
          add_owned(from);
          msg_size += tmpl_bytes;
          tmpl_bytes = 0;
          close_message();
          open_message();
          from = owned.size();
        }
      }
      auto hdr = owned.size();
      owned.resize(owned.size() + ipfix::set_header_size);
      ipfix::write_u16(owned.data() + hdr, s.tmpl->id);
      ipfix::write_u16(owned.data() + hdr + 2, static_cast<std::uint16_t>(set_bytes));
      add_owned(from);
      pieces.push_back({entry.payload->bytes.data() + s.offset, 0, s.length});
      msg_size += tmpl_bytes + set_bytes;
      st.sequence += s.records; // RFC 7011 3.1: counts data records, modulo 2^32
      records += s.records;
      remaining -= s.length;
      bytes += s.length;
      ++sets;
      if (!udp)
        ends.push_back(0); // set by close_message
      used = true;
    }
    if (used)
      mem->payloads.push_back(entry.payload);
  }
  close_message();
  if (sets == 0) {
    arm_flush(self);
    return;
  }
  auto job = std::make_shared<net::write_job>();
  job->buffers.reserve(pieces.size());
  for (auto& p : pieces)
    job->buffers.emplace_back(p.external ? p.external : owned.data() + p.offset, p.length);
  job->keepalive = mem;
  if (udp)
    job->datagrams = std::move(datagrams); // RFC 7011 10.3.3: one message per datagram
  st.writing = true;
  st.inflight_sets = sets;
  st.inflight_records = records;
  st.inflight_messages = messages;
  st.inflight_bytes = bytes;
  st.unsent_bytes -= bytes;
  if (st.unsent_bytes > 0)
    st.oldest_unsent = self->clock().now();
  st.client->write(st.gen, std::move(job));
}

// The collector's TCP acknowledged all but `unacked` of the connection's octets: sets
// `replay_window` octets behind that are taken as read and forgotten.
void confirm(state_ptr self, std::uint64_t unacked) {
  auto& st = self->state;
  st.conn_acked = std::max(st.conn_acked, st.conn_octets - std::min(unacked, st.conn_octets));
  while (!st.unconfirmed.empty() &&
         st.unconfirmed.front().end + st.cfg.replay_window <= st.conn_acked)
    st.unconfirmed.pop_front();
}

void commit_inflight(state_ptr self, std::uint64_t octets, std::uint64_t unacked) {
  auto& st = self->state;
  const bool keep = !st.cfg.datagram; // UDP: best effort, nothing is acknowledged
  auto n = st.inflight_sets;
  std::size_t k = 0;
  while (n > 0 && !st.queue.empty()) {
    auto& e = st.queue.front();
    auto& s = e.payload->sets[e.next_set];
    st.queued_bytes -= s.length;
    st.status.queued_records -= s.records;
    if (keep)
      st.unconfirmed.push_back({e.payload, e.next_set, st.conn_octets + st.inflight_ends[k]});
    ++k;
    ++e.next_set;
    --n;
    if (e.next_set == e.end_set)
      st.queue.pop_front();
  }
  st.conn_octets += octets;
  if (keep)
    confirm(self, unacked);
  st.status.sent_records += st.inflight_records;
  st.status.sent_messages += st.inflight_messages;
  st.status.sent_bytes += octets;
  if (st.metrics.records) {
    st.metrics.records->Increment(static_cast<double>(st.inflight_records));
    st.metrics.messages->Increment(static_cast<double>(st.inflight_messages));
    st.metrics.bytes->Increment(static_cast<double>(octets));
  }
  st.inflight_sets = 0;
  st.inflight_records = 0;
  st.inflight_messages = 0;
  st.inflight_bytes = 0;
  st.writing = false;
  publish_queue(self);
}

// The connection ended: the sets the collector may not have read go back to the front
// of the queue, in order, for the next connection (after its templates, with its own
// sequence numbers: RFC 7011 10.4.1, a new transport session). After a clean close the
// collector read everything its TCP acknowledged; otherwise it (or a proxy in front) may
// have held up to `replay_window` acknowledged octets unread. Returns the records.
std::uint64_t requeue_unconfirmed(state_ptr self, bool clean, std::uint64_t unacked) {
  auto& st = self->state;
  std::uint64_t cut = st.conn_acked;
  if (clean)
    cut = std::max(cut, st.conn_octets - std::min(unacked, st.conn_octets));
  else
    cut -= std::min<std::uint64_t>(cut, st.cfg.replay_window);
  std::deque<exporter_session_state::queued> again;
  std::uint64_t records = 0;
  for (auto& w : st.unconfirmed) {
    if (w.end <= cut)
      continue;
    if (!again.empty() && again.back().payload == w.payload && again.back().end_set == w.set)
      ++again.back().end_set;
    else
      again.push_back({w.payload, nullptr, w.set, w.set + 1});
    auto& s = w.payload->sets[w.set];
    st.queued_bytes += s.length;
    st.unsent_bytes += s.length;
    st.status.queued_records += s.records;
    records += s.records;
  }
  st.queue.insert(st.queue.begin(), std::make_move_iterator(again.begin()),
                  std::make_move_iterator(again.end()));
  st.unconfirmed.clear();
  st.conn_octets = 0;
  st.conn_acked = 0;
  if (records > 0) {
    st.oldest_unsent = self->clock().now();
    st.status.replayed_records += records;
    if (st.metrics.replayed)
      st.metrics.replayed->Increment(static_cast<double>(records));
    publish_queue(self);
  }
  return records;
}

std::string millis(caf::timespan d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

void connect_next(state_ptr self) {
  auto& st = self->state;
  ++st.gen;
  set_state(self, "connecting");
  st.client->connect(st.gen);
}

std::size_t payload_size(const messages::enriched_payload& p) {
  std::size_t n = 0;
  for (auto& s : p.sets)
    n += s.length;
  return n;
}

} // namespace

exporter_session_actor::behavior_type
exporter_session(exporter_session_actor::stateful_pointer<exporter_session_state> self,
                 exporter_session_config cfg) {
  auto& st = self->state;
  // A UDP message must fit one datagram: 65507 octets of IPv4 UDP payload.
  const std::size_t max_size = cfg.datagram ? 65507 : ipfix::max_message_size;
  if (!cfg.io || cfg.host.empty() || cfg.max_message_size < 512 ||
      cfg.max_message_size > max_size || (cfg.datagram && cfg.template_refresh.count() <= 0)) {
    self->quit(caf::make_error(caf::sec::invalid_argument, "exporter_session: bad config"));
    return exporter_session_actor::behavior_type::make_empty_behavior();
  }
  st.status.name = cfg.name;
  st.status.url = cfg.url;
  if (cfg.metrics)
    st.metrics = cfg.metrics->destination(cfg.name);
  // The client's callbacks hold a weak reference: the actor owns the client, not the
  // other way round (STYLE: no strong cycles).
  caf::weak_actor_ptr weak{self->ctrl()};
  auto to_self = [weak](auto... xs) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<exporter_session_actor>(strong), xs...);
  };
  net::tcp_client::handlers h;
  h.connected = [to_self](std::uint64_t gen) { to_self(connected_atom_v, gen); };
  h.disconnected = [to_self](std::uint64_t gen, net::disconnect_info end) {
    to_self(disconnected_atom_v, gen, std::move(end.reason), end.clean,
            static_cast<std::uint64_t>(end.unacked));
  };
  h.written = [to_self](std::uint64_t gen, std::size_t n, std::size_t unacked) {
    to_self(written_atom_v, gen, static_cast<std::uint64_t>(n),
            static_cast<std::uint64_t>(unacked));
  };
  if (cfg.make_client)
    st.client = cfg.make_client(std::move(h));
  else if (cfg.datagram) {
    // Once per client at most: the client sends plain datagrams after a refusal.
    net::udp_client_options opts;
    opts.gso = cfg.udp_gso;
    opts.gso_refused = [counter = st.metrics.udp_gso_refused, name = cfg.name](int err) {
      if (counter)
        counter->Increment();
      monitoring::log(monitoring::log_level::warn, "udp gso refused, sending plain datagrams",
                      {{"destination", name}, {"error", std::strerror(err)}});
    };
    st.client = std::make_shared<net::udp_client>(*cfg.io, cfg.host, cfg.port, std::move(h),
                                                  std::move(opts));
  } else
    st.client = std::make_shared<net::tcp_client>(*cfg.io, cfg.host, cfg.port, std::move(h),
                                                  cfg.connect_timeout);
  st.cfg = std::move(cfg);
  self->attach_functor([client = st.client] { client->stop(); });
  connect_next(self);
  return counted_behavior{
      self,
      [=](messages::enriched_batch& b) {
        auto& st = self->state;
        auto size = payload_size(*b.payload);
        if (st.cfg.on_full == on_full_policy::drop && st.queued_bytes + size > st.cfg.queue_size) {
          // DESIGN 3: dropped on purpose and counted (RFC 7011 4.3 asks to account for it).
          st.status.dropped_records += b.payload->records;
          if (st.metrics.dropped_queue_full)
            st.metrics.dropped_queue_full->Increment(static_cast<double>(b.payload->records));
          return;
        }
        if (st.unsent_bytes == 0)
          st.oldest_unsent = self->clock().now();
        auto sets = b.payload->sets.size();
        st.queue.push_back({std::move(b.payload), std::move(b.hold), 0, sets});
        st.queued_bytes += size;
        st.status.queued_records += st.queue.back().payload->records;
        st.unsent_bytes += size;
        publish_queue(self);
        try_send(self);
      },
      [=](caf::get_atom) { return self->state.status; },
      [=](drain_atom) -> caf::result<bool> {
        auto& st = self->state;
        if (st.queue.empty())
          return true;
        st.drains.push_back(self->make_response_promise<bool>());
        try_send(self, true);
        return st.drains.back();
      },
      [=](connected_atom, std::uint64_t gen) {
        auto& st = self->state;
        if (gen != st.gen)
          return;
        st.connected = true;
        st.backoff = std::chrono::milliseconds{0};
        st.sequence = 0; // a new transport session starts its own count
        st.announced.clear();
        st.last_refresh = self->clock().now();
        st.messages_since_refresh = 0;
        ++st.status.connections;
        set_state(self, "connected");
        if (st.metrics.up)
          st.metrics.up->Set(1);
        // The first connection is logged once; later ones end an outage, rate-limited.
        auto suppressed = st.status.connections == 1 && !st.outage_since
                              ? std::optional<std::uint64_t>{0}
                              : st.connected_log.admit();
        if (suppressed) {
          auto outage = st.outage_since ? self->clock().now() - *st.outage_since : caf::timespan{0};
          monitoring::log(monitoring::log_level::info, "destination connected",
                          {{"destination", st.cfg.name},
                           {"url", st.cfg.url},
                           {"outage_ms", millis(outage)},
                           {"failed_attempts", std::to_string(st.outage_attempts)},
                           {"resending_records", std::to_string(st.outage_replayed)},
                           {"suppressed", std::to_string(*suppressed)}});
        }
        st.outage_since.reset();
        st.outage_attempts = 0;
        st.outage_replayed = 0;
        try_send(self);
      },
      [=](disconnected_atom, std::uint64_t gen, const std::string& reason, bool clean,
          std::uint64_t unacked) {
        auto& st = self->state;
        if (gen != st.gen)
          return;
        if (st.writing) {
          // The write in flight may be lost: send those sets again on the next connection.
          st.unsent_bytes += st.inflight_bytes;
          st.inflight_bytes = 0;
          st.inflight_sets = 0;
          st.writing = false;
          if (st.unsent_bytes > 0)
            st.oldest_unsent = self->clock().now();
        }
        const bool was_up = st.connected;
        std::uint64_t replayed = 0;
        if (was_up)
          replayed = requeue_unconfirmed(self, clean, unacked);
        st.connected = false;
        st.announced.clear();
        st.probe = st.cfg.datagram;
        if (st.metrics.up)
          st.metrics.up->Set(0);
        // RFC 7011 10.4.4: back off; by default no more than once a minute after repeated
        // failures (reconnect_max).
        st.backoff = st.backoff.count() == 0 ? st.cfg.reconnect_min
                                             : std::min(st.backoff * 2, st.cfg.reconnect_max);
        ++st.status.reconnects;
        if (st.metrics.reconnects)
          st.metrics.reconnects->Increment();
        set_state(self, "backoff");
        self->delayed_send(self, st.backoff, reconnect_atom_v, gen);
        // The outage's log lines, rate-limited: its start, then each failed attempt.
        auto now = self->clock().now();
        if (!st.outage_since)
          st.outage_since = now;
        st.outage_replayed += replayed;
        if (was_up) {
          if (auto suppressed = st.lost_log.admit())
            monitoring::log(monitoring::log_level::warn, "destination connection lost",
                            {{"destination", st.cfg.name},
                             {"reason", reason},
                             {"clean_close", clean ? "true" : "false"},
                             {"resending_records", std::to_string(replayed)},
                             {"queued_records", std::to_string(st.status.queued_records)},
                             {"retry_in_ms", millis(st.backoff)},
                             {"suppressed", std::to_string(*suppressed)}});
          return;
        }
        ++st.outage_attempts;
        if (auto suppressed = st.failed_log.admit())
          monitoring::log(monitoring::log_level::warn, "destination connect failed",
                          {{"destination", st.cfg.name},
                           {"reason", reason},
                           {"attempt", std::to_string(st.outage_attempts)},
                           {"outage_ms", millis(now - *st.outage_since)},
                           {"queued_records", std::to_string(st.status.queued_records)},
                           {"retry_in_ms", millis(st.backoff)},
                           {"suppressed", std::to_string(*suppressed)}});
      },
      [=](written_atom, std::uint64_t gen, std::uint64_t octets, std::uint64_t unacked) {
        auto& st = self->state;
        if (gen != st.gen)
          return;
        commit_inflight(self, octets, unacked);
        st.probe = false;
        answer_drains(self);
        try_send(self);
      },
      [=](caf::flush_atom, std::uint64_t fgen) {
        auto& st = self->state;
        if (fgen != st.flush_gen)
          return;
        st.flush_armed = false;
        try_send(self, true);
      },
      [=](reconnect_atom, std::uint64_t gen) {
        if (gen == self->state.gen)
          connect_next(self);
      },
  };
}

} // namespace fa::actors
