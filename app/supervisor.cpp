#include "app/supervisor.hpp"
#include "app/scheduler_settings.hpp"

#include "app/admin_api.hpp"
#include "app/destinations.hpp"
#include "app/open_files.hpp"

#include "actors/agent_session.hpp"
#include "actors/enricher.hpp"
#include "actors/label_cache.hpp"
#include "actors/template_registry.hpp"
#include "ipfix/message.hpp"
#include "monitoring/log.hpp"

#include <thread>

namespace fa::app {

using monitoring::log;
using monitoring::log_level;

namespace {

std::uint64_t mix(std::uint64_t x) {
  // splitmix64 finaliser: spreads consecutive session ids over the enrichers.
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::string_view transport_name(messages::transport proto) {
  switch (proto) {
  case messages::transport::udp:
    return "udp";
  case messages::transport::tls:
    return "tls";
  case messages::transport::grpc:
    return "grpc";
  case messages::transport::grpcs:
    return "grpcs";
  default:
    return "tcp";
  }
}

messages::session_info_ptr make_session_info(std::uint64_t id, messages::transport proto,
                                             asio::ip::address addr, std::uint16_t port) {
  auto info = std::make_shared<messages::session_info>();
  info->id = id;
  info->proto = proto;
  if (addr.is_v6() && addr.to_v6().is_v4_mapped())
    addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  if (addr.is_v4()) {
    info->peer_is_v4 = true;
    auto b = addr.to_v4().to_bytes();
    info->peer_v6[10] = 0xff;
    info->peer_v6[11] = 0xff;
    std::copy(b.begin(), b.end(), info->peer_v6.begin() + 12);
    info->peer_text = addr.to_string() + ":" + std::to_string(port);
  } else {
    auto b = addr.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), info->peer_v6.begin());
    info->peer_text = "[" + addr.to_string() + "]:" + std::to_string(port);
  }
  info->peer_port = port;
  return info;
}

template <class Handle, class Reply>
std::vector<Reply> collect(caf::actor_system& sys, const std::vector<Handle>& handles) {
  std::vector<Reply> out;
  caf::scoped_actor self{sys};
  for (auto& h : handles)
    self->request(h, std::chrono::seconds{5}, caf::get_atom_v)
        .receive([&](Reply& r) { out.push_back(std::move(r)); }, [](caf::error&) {});
  return out;
}

} // namespace

supervisor::supervisor(config::config cfg)
    : cfg_(std::move(cfg)) {
  auto hw = std::max(1u, std::thread::hardware_concurrency());
  caf_cfg_.add_message_types<caf::id_block::fa>();
  apply_scheduler_settings(caf_cfg_, cfg_.runtime, hw);
  caf_cfg_.set("logger.console", caf::atom("none"));
  caf_cfg_.set("logger.verbosity", caf::atom("quiet"));
  system_ = std::make_unique<caf::actor_system>(caf_cfg_);
  table_ = std::make_shared<actors::output_template_table>();
  table_->count_in(&metrics_.templates_out());
  receive_budget_ = std::make_shared<messages::byte_budget>(
      static_cast<std::int64_t>(cfg_.collector.receive_budget));
  // DESIGN 3: what the sessions' received data (whole messages in the pipeline and the
  // start of messages still arriving) holds of the process-wide budget.
  metrics_.scrape_gauge(
      "flow_aggregator_receive_budget_used_bytes",
      "Octets of received data in flight, charged to collector.receive_budget",
      [b = receive_budget_] { return static_cast<double>(b->limit() - b->available()); });
  template_budget_ = std::make_shared<ipfix::template_budget>(cfg_.collector.template_budget);
  session_slots::limits sl;
  sl.total = cfg_.collector.max_sessions;
  sl.stream = cfg_.collector.max_tcp_sessions;
  sl.udp = cfg_.collector.max_udp_sessions;
  sl.per_address = cfg_.collector.max_sessions_per_address;
  sl.template_share = cfg_.collector.template_budget_per_exporter;
  slots_ = std::make_shared<session_slots>(sl);
}

supervisor::~supervisor() {
  stop(std::chrono::milliseconds{0});
}

std::optional<std::string> supervisor::start_destinations() {
  for (auto& d : cfg_.destinations) {
    auto made = spawn_destination(*system_, cfg_, d, io_.context(), metrics_);
    if (auto* err = std::get_if<std::string>(&made))
      return *err;
    destinations_.push_back(std::get<actors::destination_actor>(made));
  }
  return std::nullopt;
}

std::optional<std::string> supervisor::start() {
  auto& sys = *system_;
  io_.start(cfg_.runtime.io_threads);
  if (auto err = start_destinations())
    return err;
  // The same derivation a reload uses: set bodies sized for the smallest IPFIX
  // destination, the [enrichment] options, the fanout.
  auto ec = enricher_setup(cfg_, destinations_);
  enrichment_ = ec.enrichment;
  // mode = "aggregate": the enrichers' destinations are the shards (DESIGN 9).
  if (cfg_.mode == config::run_mode::aggregate)
    start_aggregators(ec);
  registry_ = sys.spawn(actors::template_registry, table_);
  auto made = spawn_label_cache(cfg_);
  if (auto* err = std::get_if<std::string>(&made))
    return *err;
  labels_ = std::get<actors::label_cache_actor>(made);
  auto hw = std::max(1u, std::thread::hardware_concurrency());
  auto n = config::resolved_enrichers(cfg_.runtime, hw);
  for (std::uint32_t i = 0; i < std::max(1u, n); ++i) {
    auto e = sys.spawn(actors::enricher, ec);
    caf::anon_send(labels_, caf::subscribe_atom_v, e);
    enrichers_.push_back(e);
  }
  if (cfg_.admin.listen) {
    admin_server_options ao;
    ao.listen = config::to_string(*cfg_.admin.listen);
    ao.tls_cert = cfg_.admin.tls_cert;
    ao.tls_key = cfg_.admin.tls_key;
    ao.on_closed = admin_connection_events(*this);
    if (!cfg_.admin.token_file.empty()) {
      if (auto err = read_token_file(cfg_.admin.token_file, ao.token))
        return "admin.token_file " + cfg_.admin.token_file + ": " + *err;
    }
    try {
      admin_ = std::make_unique<admin_server>(std::move(ao), admin_routes(*this));
    } catch (const std::exception& e) {
      return "admin listen " + config::to_string(*cfg_.admin.listen) + ": " + e.what();
    }
  }
  for (auto& ep : cfg_.collector.listen) {
    asio::error_code ec;
    auto addr = asio::ip::make_address(ep.host, ec);
    if (ec)
      return "listener " + config::to_string(ep) + ": not an IP address";
    std::variant<net::listener_ptr, std::string> made;
    try {
      switch (ep.transport) {
      case config::transport_kind::udp:
        made = start_udp_listener(addr, ep.port);
        break;
      case config::transport_kind::tls:
        made = start_tls_listener(addr, ep.port);
        break;
      case config::transport_kind::grpc:
      case config::transport_kind::grpcs:
        made = start_grpc_listener(addr, ep.port, ep.transport == config::transport_kind::grpcs);
        break;
      default:
        made = std::make_shared<net::tcp_listener>(
            io_.context(), asio::ip::tcp::endpoint{addr, ep.port},
            [this](asio::ip::tcp::socket s) { accept(std::move(s)); },
            count_accept_failures(metrics_, "tcp", config::to_string(ep)));
      }
    } catch (const std::system_error& e) {
      return "listener " + config::to_string(ep) + ": " + e.what();
    }
    if (auto* err = std::get_if<std::string>(&made))
      return "listener " + config::to_string(ep) + ": " + *err;
    listeners_.push_back(std::get<net::listener_ptr>(made));
    log(log_level::info, "listening",
        {{"transport", std::string{config::to_string(ep.transport)}},
         {"address", listeners_.back()->address().to_string()},
         {"port", std::to_string(listeners_.back()->port())}});
  }
  listening_ = true;
  // The reload series exist from the start (0), so a rate over them is defined.
  metrics_.config_reloads("success");
  metrics_.config_reloads("failure");
  metrics_.config_last_reload_success().Set(
      static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count()));
  return std::nullopt;
}

session_slots::slot_ptr supervisor::admit(messages::transport proto,
                                          const asio::ip::address& addr) {
  std::string_view refusal;
  auto slot = slots_->acquire(proto, session_slots::key_of(addr), refusal);
  if (!slot)
    refused(proto, addr, refusal);
  return slot;
}

void supervisor::refused(messages::transport proto, const asio::ip::address& addr,
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

net::session_timeouts supervisor::session_timeouts() const {
  using std::chrono::duration_cast;
  using ms = std::chrono::milliseconds;
  const auto& c = cfg_.collector;
  return {duration_cast<ms>(c.message_timeout), duration_cast<ms>(c.first_message_timeout),
          duration_cast<ms>(c.tcp_idle_timeout)};
}

messages::session_budgets supervisor::new_session_budgets() const {
  return {std::make_shared<messages::byte_budget>(
              static_cast<std::int64_t>(cfg_.collector.session_budget)),
          receive_budget_};
}

supervisor::opened_session supervisor::open_session(messages::transport proto,
                                                    const asio::ip::address& addr,
                                                    std::uint16_t port, net::inbound_ptr in,
                                                    session_slots::slot_ptr slot) {
  auto id = ++next_session_id_;
  auto info = make_session_info(id, proto, addr, port);
  actors::agent_session_config ac;
  ac.info = info;
  ac.enricher = enrichers_[mix(id) % enrichers_.size()];
  ac.table = table_;
  // Held until the session is registered: a reload that changes the options either
  // happened before (this session starts with them) or finds it and sends them.
  std::unique_lock live{live_mtx_};
  ac.enrichment = enrichment_;
  ac.templates.transport =
      proto == messages::transport::udp ? ipfix::transport_kind::udp : ipfix::transport_kind::tcp;
  ac.templates.max_templates = cfg_.collector.max_templates_per_session;
  // RFC 7011 8.4 (UDP only): templates not refreshed within this lifetime expire.
  ac.templates.udp_lifetime = cfg_.collector.template_lifetime;
  // Issue 16: the exporter's share of the template budget, and the process total.
  ac.templates.quota = {slot->templates(), template_budget_};
  std::weak_ptr<net::inbound> weak_in = in;
  ac.close_connection = [weak_in](std::string reason) {
    if (auto c = weak_in.lock())
      c->close(std::move(reason));
  };
  ac.on_end = [this, id] { session_ended(id); };
  ac.metrics = &metrics_;
  ac.output_id_idle = cfg_.collector.output_id_idle_timeout;
  auto actor = system_->spawn(actors::agent_session, std::move(ac));
  {
    std::lock_guard guard{sessions_mtx_};
    sessions_[id] = {std::move(in), actor, slot, proto, info->peer_text};
  }
  live.unlock();
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

net::tcp_connection::frames_handler supervisor::frames_to(actors::agent_session_actor actor) {
  return [actor](messages::chunk_ptr c) { caf::anon_send(actor, messages::frames{std::move(c)}); };
}

net::tcp_connection::closed_handler supervisor::close_to(const opened_session& s) {
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

void supervisor::accept(asio::ip::tcp::socket socket) {
  asio::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (ec)
    return; // the peer went away before we looked
  auto slot = admit(messages::transport::tcp, remote.address());
  if (!slot) {
    socket.close(ec);
    return;
  }
  constexpr std::size_t max_read = 256 * 1024;
  auto conn =
      std::make_shared<net::tcp_connection>(std::move(socket), new_session_budgets(), max_read,
                                            cfg_.collector.max_message_size, session_timeouts());
  auto s = open_session(messages::transport::tcp, remote.address(), remote.port(), conn,
                        std::move(slot));
  conn->start(frames_to(s.actor), close_to(s));
}

void supervisor::session_ended(std::uint64_t id) {
  net::inbound_ptr in;
  auto proto = messages::transport::tcp;
  {
    std::lock_guard guard{sessions_mtx_};
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

std::vector<std::uint16_t> supervisor::listen_ports() const {
  std::vector<std::uint16_t> out;
  for (auto& l : listeners_)
    out.push_back(l->port());
  return out;
}

std::uint16_t supervisor::admin_port() const {
  return admin_ ? admin_->port() : 0;
}

std::vector<messages::session_status> supervisor::sessions() {
  std::vector<actors::agent_session_actor> handles;
  {
    std::lock_guard guard{sessions_mtx_};
    for (auto& [_, e] : sessions_)
      handles.push_back(e.actor);
  }
  return collect<actors::agent_session_actor, messages::session_status>(*system_, handles);
}

std::uint64_t supervisor::label_ips() {
  std::uint64_t n = 0;
  actors::label_cache_actor labels;
  {
    std::lock_guard guard{live_mtx_};
    labels = labels_;
  }
  caf::scoped_actor self{*system_};
  self->request(labels, std::chrono::seconds{5}, caf::get_atom_v)
      .receive([&](std::uint64_t x) { n = x; }, [](caf::error&) {});
  return n;
}

messages::label_status supervisor::label_status(const std::string& ip) {
  messages::label_status out;
  actors::label_cache_actor labels;
  {
    std::lock_guard guard{live_mtx_};
    labels = labels_;
  }
  caf::scoped_actor self{*system_};
  self->request(labels, std::chrono::seconds{5}, caf::get_atom_v, ip)
      .receive([&](messages::label_status& x) { out = std::move(x); }, [](caf::error&) {});
  return out;
}

std::vector<messages::destination_status> supervisor::destinations() {
  std::vector<actors::destination_actor> handles;
  {
    std::lock_guard guard{live_mtx_};
    handles = destinations_;
  }
  return collect<actors::destination_actor, messages::destination_status>(*system_, handles);
}

config::config supervisor::effective_config() const {
  std::lock_guard guard{live_mtx_};
  return cfg_;
}

std::vector<messages::enricher_status> supervisor::enrichers() {
  return collect<actors::enricher_actor, messages::enricher_status>(*system_, enrichers_);
}

std::uint64_t supervisor::stop(std::chrono::milliseconds drain_timeout) {
  if (stopped_)
    return 0;
  stopped_ = true;
  listening_ = false;
  // 1. No new sessions.
  for (auto& l : listeners_)
    l->stop();
  // 2. Close every session; each reads no more and quits after what it already has.
  {
    std::lock_guard guard{sessions_mtx_};
    for (auto& [_, e] : sessions_)
      e.in->close("shutdown");
  }
  auto deadline = std::chrono::steady_clock::now() + drain_timeout;
  while (open_sessions_.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  std::uint64_t left = 0;
  {
    caf::scoped_actor self{*system_};
    // 3. A request behind the sessions' last batches: when an enricher answers, it has
    // forwarded everything to the destinations.
    for (auto& e : enrichers_)
      self->request(e, drain_timeout + std::chrono::milliseconds{1}, caf::get_atom_v)
          .receive([](messages::enricher_status&) {}, [](caf::error&) {});
    // 4. mode = "aggregate": every flow leaves the shards for the destinations.
    drain_aggregators(deadline);
    // 5. Drain the destinations.
    for (auto& d : destinations_) {
      auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      self->request(d, std::max(remaining, std::chrono::milliseconds{1}), actors::drain_atom_v)
          .receive([](bool) {}, [](caf::error&) {});
      self->request(d, std::chrono::seconds{1}, caf::get_atom_v)
          .receive(
              [&](messages::destination_status& s) {
                if (s.queued_bytes > 0) {
                  log(log_level::warn, "destination not drained",
                      {{"destination", s.name}, {"queued_bytes", std::to_string(s.queued_bytes)}});
                  left += s.queued_bytes;
                }
              },
              [](caf::error&) {});
    }
    // 6. Stop every actor.
    auto kill = [&](auto& h) {
      if (h)
        self->send_exit(h, caf::exit_reason::user_shutdown);
    };
    {
      std::lock_guard guard{sessions_mtx_};
      for (auto& [_, e] : sessions_)
        kill(e.actor);
    }
    for (auto& e : enrichers_)
      kill(e);
    for (auto& a : aggregators_)
      kill(a);
    for (auto& d : destinations_)
      kill(d);
    kill(registry_);
    kill(labels_);
  }
  // The admin handlers read the handles below: stop serving before they are cleared.
  admin_.reset();
  enrichers_.clear();
  aggregators_.clear();
  destinations_.clear();
  registry_ = nullptr;
  labels_ = nullptr;
  {
    std::lock_guard guard{sessions_mtx_};
    sessions_.clear();
  }
  system_->await_all_actors_done();
  // 7. Threads last: actors may have posted work to the io_context until now.
  io_.drain(std::chrono::seconds{2});
  listeners_.clear();
  return left;
}

} // namespace fa::app
