// udp:// listeners (RFC 7011 10.3): every exporter (address, port) is a session of its
// own, opened on its first valid datagram through the same path as a TCP connection
// (session slots, session_registry::open) and closed by inbound::close: by the idle sweep, to make
// room for a new exporter ("reclaimed"), by its session, or by stop().

#include "app/listeners.hpp"

#include "monitoring/log.hpp"
#include "net/endpoint_text.hpp"
#include "net/udp_listener.hpp"

namespace fa::app {

using monitoring::log;
using monitoring::log_level;

std::variant<net::listener_ptr, std::string>
start_udp_listener(const acceptor_context& ctx, const asio::ip::address& addr, std::uint16_t port) {
  auto& sessions = ctx.sessions;
  auto& metrics = ctx.metrics;
  const auto& collector = sessions.collector();
  net::udp_listener_config lc;
  lc.receive_buffer = collector.udp_receive_buffer;
  lc.idle_timeout = collector.udp_idle_timeout;
  lc.untemplated_idle_timeout = collector.udp_untemplated_idle_timeout;
  lc.max_message_size = collector.max_message_size;

  // STYLE: metrics are state. Malformed datagrams count with the codec's malformed
  // reasons; the other drops in udp_datagrams_dropped_total.
  std::array<prometheus::Counter*, net::num_udp_drops> dropped{};
  for (std::size_t i = 0; i < net::num_udp_drops; ++i) {
    auto d = static_cast<net::udp_drop>(i);
    dropped[i] = net::is_malformed(d) ? &metrics.malformed(net::to_string(d))
                                      : &metrics.udp_dropped(net::to_string(d));
  }
  auto* received = &metrics.udp_datagrams();
  auto on_counts = [received, dropped](std::uint64_t n, const net::udp_drop_counts& drops) {
    received->Increment(static_cast<double>(n));
    for (std::size_t i = 0; i < drops.size(); ++i)
      if (drops[i] != 0)
        dropped[i]->Increment(static_cast<double>(drops[i]));
  };

  // Runs on the listener's strand only, so its refusal clock needs no lock.
  auto last_refusal = std::chrono::steady_clock::time_point{};
  auto on_accept = [&sessions,
                    last_refusal](const net::udp_peer_ptr& peer,
                                  const net::udp_listener::reclaim_handler& reclaim) mutable
      -> std::optional<net::udp_peer_setup> {
    constexpr auto proto = messages::transport::udp;
    const auto addr = peer->remote().address();
    std::string_view refusal;
    auto slot = sessions.acquire(proto, addr, refusal);
    // Issue 16, defect 7: at a UDP limit an idle session makes room (one of the same
    // address when the address's cap was reached), so spoofed sources cannot lock real
    // exporters out. Beyond max_tcp_sessions there is nothing UDP can free.
    if (!slot && refusal != "max_tcp_sessions" &&
        reclaim(refusal == "max_sessions_per_address" ? net::udp_reclaim::same_address
                                                      : net::udp_reclaim::any))
      slot = sessions.acquire(proto, addr, refusal);
    if (!slot) {
      // A refused exporter asks again with every datagram (each counted in
      // udp_datagrams_dropped_total{reason="refused"}): sessions_rejected_total and the
      // log see at most one refusal a second per listener.
      auto now = std::chrono::steady_clock::now();
      if (now - last_refusal >= std::chrono::seconds{1}) {
        last_refusal = now;
        sessions.refused(proto, addr, refusal);
      }
      return std::nullopt;
    }
    auto s = sessions.open(proto, addr, peer->remote().port(), peer, std::move(slot));
    net::udp_peer_setup setup;
    setup.on_frames = [actor = s.actor](messages::chunk_ptr c, net::udp_peer_report r) {
      caf::anon_send(actor, messages::frames{std::move(c), r.budget_drops, r.malformed});
    };
    setup.on_closed = session_registry::close_to(s);
    setup.budgets = sessions.new_session_budgets();
    return setup;
  };

  auto l = std::make_shared<net::udp_listener>(ctx.io, asio::ip::udp::endpoint{addr, port}, lc,
                                               std::move(on_accept), std::move(on_counts));
  l->start();
  const std::string name = net::endpoint_text(addr, l->port());
  metrics.udp_receive_buffer(name).Set(static_cast<double>(l->effective_receive_buffer()));
  // Linux reports twice the size it was given (the rest is its bookkeeping): below the
  // configured size means net.core.rmem_max capped it (no CAP_NET_ADMIN).
  bool capped = lc.receive_buffer > 0 && l->effective_receive_buffer() < lc.receive_buffer;
  log(capped ? log_level::warn : log_level::info, "udp receive buffer",
      {{"listener", name},
       {"configured", std::to_string(lc.receive_buffer)},
       {"effective", std::to_string(l->effective_receive_buffer())},
       {"note", capped ? "capped by net.core.rmem_max; raise it or run with CAP_NET_ADMIN" : ""}});
  return net::listener_ptr{l};
}

} // namespace fa::app
