#include "app/session_registry.hpp"

#include "actors/agent_session.hpp"
#include "base/hash.hpp"
#include "messages/transport_name.hpp"
#include "monitoring/log.hpp"
#include "net/endpoint_text.hpp"

namespace fa::app {

using messages::transport_name;
using monitoring::log;
using monitoring::log_level;

namespace {

std::uint64_t mix(std::uint64_t x) {
  // splitmix64 finaliser: spreads consecutive session ids over the enrichers.
  return base::mix64(x + base::golden_gamma);
}

messages::session_info_ptr make_session_info(std::uint64_t id, messages::transport proto,
                                             asio::ip::address addr, std::uint16_t port) {
  auto info = std::make_shared<messages::session_info>();
  info->id = id;
  info->proto = proto;
  addr = net::unmapped(addr);
  info->peer_text = net::endpoint_text(addr, port);
  if (addr.is_v4()) {
    info->peer_is_v4 = true;
    auto b = addr.to_v4().to_bytes();
    info->peer_v6[10] = 0xff;
    info->peer_v6[11] = 0xff;
    std::copy(b.begin(), b.end(), info->peer_v6.begin() + 12);
  } else {
    auto b = addr.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), info->peer_v6.begin());
  }
  info->peer_port = port;
  return info;
}

session_slots::limits slot_limits(const config::collector_config& c) {
  session_slots::limits sl;
  sl.total = c.max_sessions;
  sl.stream = c.max_tcp_sessions;
  sl.udp = c.max_udp_sessions;
  sl.per_address = c.max_sessions_per_address;
  sl.template_share = c.template_budget_per_exporter;
  return sl;
}

} // namespace

session_registry::session_registry(caf::actor_system& sys, config::collector_config collector,
                                   monitoring::metrics& metrics)
    : system_(sys)
    , collector_(std::move(collector))
    , metrics_(metrics)
    , receive_budget_(std::make_shared<messages::byte_budget>(
          static_cast<std::int64_t>(collector_.receive_budget)))
    , template_budget_(std::make_shared<ipfix::template_budget>(collector_.template_budget))
    , slots_(std::make_shared<session_slots>(slot_limits(collector_))) {
  // DESIGN 3: what the sessions' received data (whole messages in the pipeline and the
  // start of messages still arriving) holds of the process-wide budget.
  metrics_.scrape_gauge(
      "flow_aggregator_receive_budget_used_bytes",
      "Octets of received data in flight, charged to collector.receive_budget",
      [b = receive_budget_] { return static_cast<double>(b->limit() - b->available()); });
}

void session_registry::connect(std::vector<actors::enricher_actor> enrichers,
                               std::shared_ptr<actors::output_template_table> table,
                               actors::enrichment_options enrichment) {
  std::lock_guard guard{mtx_};
  enrichers_ = std::move(enrichers);
  table_ = std::move(table);
  enrichment_ = std::move(enrichment);
}

session_slots::slot_ptr session_registry::acquire(messages::transport proto,
                                                  const asio::ip::address& addr,
                                                  std::string_view& refusal) {
  return slots_->acquire(proto, session_slots::key_of(addr), refusal);
}

session_slots::slot_ptr session_registry::admit(messages::transport proto,
                                                const asio::ip::address& addr) {
  std::string_view refusal;
  auto slot = acquire(proto, addr, refusal);
  if (!slot)
    refused(proto, addr, refusal);
  return slot;
}

void session_registry::refused(messages::transport proto, const asio::ip::address& addr,
                               std::string_view reason) {
  metrics_.sessions_rejected(reason).Increment();
  // Every refusal is counted; a client that connects in a loop must not flood the log.
  if (!monitoring::log_enabled(log_level::warn))
    return;
  if (auto suppressed = refusal_log_.admit())
    log(log_level::warn, "session refused",
        {{"reason", std::string{reason}},
         {"transport", std::string{transport_name(proto)}},
         {"peer", addr.to_string()},
         {"suppressed", std::to_string(*suppressed)}});
}

net::session_timeouts session_registry::session_timeouts() const {
  using std::chrono::duration_cast;
  using ms = std::chrono::milliseconds;
  const auto& c = collector_;
  return {duration_cast<ms>(c.message_timeout), duration_cast<ms>(c.first_message_timeout),
          duration_cast<ms>(c.tcp_idle_timeout)};
}

messages::session_budgets session_registry::new_session_budgets() const {
  return {
      std::make_shared<messages::byte_budget>(static_cast<std::int64_t>(collector_.session_budget)),
      receive_budget_};
}

session_registry::opened_session session_registry::open(messages::transport proto,
                                                        const asio::ip::address& addr,
                                                        std::uint16_t port, net::inbound_ptr in,
                                                        session_slots::slot_ptr slot) {
  auto id = ++next_session_id_;
  auto info = make_session_info(id, proto, addr, port);
  actors::agent_session_config ac;
  ac.info = info;
  ac.templates.transport =
      proto == messages::transport::udp ? ipfix::transport_kind::udp : ipfix::transport_kind::tcp;
  ac.templates.max_templates = collector_.max_templates_per_session;
  // RFC 7011 8.4 (UDP only): templates not refreshed within this lifetime expire.
  ac.templates.udp_lifetime = collector_.template_lifetime;
  // Issue 16: the exporter's share of the template budget, and the process total.
  ac.templates.quota = {slot->templates(), template_budget_};
  std::weak_ptr<net::inbound> weak_in = in;
  ac.close_connection = [weak_in](std::string reason) {
    if (auto c = weak_in.lock())
      c->close(std::move(reason));
  };
  ac.on_end = [this, id] { session_ended(id); };
  ac.metrics = &metrics_;
  ac.output_id_idle = collector_.output_id_idle_timeout;
  actors::agent_session_actor actor;
  {
    // Held until the session is registered: a reload that changes the options either
    // happened before (this session starts with them) or finds it and sends them.
    std::lock_guard guard{mtx_};
    ac.enricher = enrichers_[mix(id) % enrichers_.size()];
    ac.table = table_;
    ac.enrichment = enrichment_;
    actor = system_.spawn(actors::agent_session, std::move(ac));
    sessions_[id] = {std::move(in), actor, slot, proto, info->peer_text};
  }
  ++open_sessions_;
  auto transport = transport_name(proto);
  metrics_.sessions_accepted(transport).Increment();
  metrics_.sessions_open(transport).Increment();
  log(log_level::debug, "session opened",
      {{"id", std::to_string(id)},
       {"transport", std::string{transport}},
       {"peer", info->peer_text}});
  return {id, actor, info, std::move(slot)};
}

net::tcp_connection::frames_handler session_registry::frames_to(actors::agent_session_actor actor) {
  return [actor](messages::chunk_ptr c) { caf::anon_send(actor, messages::frames{std::move(c)}); };
}

net::tcp_connection::closed_handler session_registry::close_to(const opened_session& s) {
  return [actor = s.actor, id = s.id, peer = s.info->peer_text,
          slot = s.slot](const std::string& reason) {
    // Free at once, not when the session has finished what it holds: a reclaimed UDP
    // session's slot goes to the exporter that reclaimed it.
    slot->release();
    log(log_level::debug, "session closed",
        {{"id", std::to_string(id)}, {"peer", peer}, {"reason", reason}});
    caf::anon_send(actor, caf::close_atom_v, reason);
  };
}

void session_registry::session_ended(std::uint64_t id) {
  net::inbound_ptr in;
  auto proto = messages::transport::tcp;
  {
    std::lock_guard guard{mtx_};
    if (auto i = sessions_.find(id); i != sessions_.end()) {
      in = std::move(i->second.in);
      proto = i->second.proto;
      sessions_.erase(i);
    }
  }
  if (in)
    in->close("session ended"); // a no-op when the transport closed first
  --open_sessions_;
  auto transport = transport_name(proto);
  // sessions_closed_total (by transport and reason) is counted by the session itself.
  metrics_.sessions_open(transport).Decrement();
}

std::vector<actors::agent_session_actor>
session_registry::use_enrichment(actors::enrichment_options options) {
  std::vector<actors::agent_session_actor> out;
  std::lock_guard guard{mtx_};
  enrichment_ = std::move(options);
  for (auto& [_, e] : sessions_)
    out.push_back(e.actor);
  return out;
}

std::vector<session_registry::session_ref> session_registry::list() const {
  std::vector<session_ref> out;
  std::lock_guard guard{mtx_};
  for (const auto& [_, e] : sessions_)
    out.push_back({e.actor, e.peer});
  return out;
}

void session_registry::close_all(const std::string& reason) {
  std::lock_guard guard{mtx_};
  for (auto& [_, e] : sessions_)
    e.in->close(reason);
}

void session_registry::stop_all(caf::scoped_actor& self) {
  std::lock_guard guard{mtx_};
  for (auto& [_, e] : sessions_)
    self->send_exit(e.actor, caf::exit_reason::user_shutdown);
}

void session_registry::forget_all() {
  std::lock_guard guard{mtx_};
  sessions_.clear();
}

} // namespace fa::app
