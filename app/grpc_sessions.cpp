// grpc:// and grpcs:// listeners (antrea-grpc-transport.md; DESIGN 10): Antrea v2.4+
// Agents export over gRPC. Each client stream is an agent session like a TCP connection,
// fed IPFIX messages of the agent's record shape (rpc/export_server.hpp), so sessions,
// metrics, inspection, enrichment and every destination see gRPC as they see IPFIX.

#include "app/listeners.hpp"

#include "monitoring/grpc_metrics.hpp"
#include "monitoring/log.hpp"
#include "monitoring/rate_limited_log.hpp"
#include "net/endpoint_text.hpp"
#include "rpc/export_server.hpp"

namespace fa::app {

using monitoring::log;
using monitoring::log_level;

namespace {

/// What the server thread's handlers share: the metrics and the log limits (one thread
/// calls them, so the limiters need no lock).
struct grpc_listener_state {
  grpc_listener_state(prometheus::Registry& r, std::string name)
      : metrics(r)
      , listener(std::move(name)) {}
  /// When the listener is gone (after its last stream): what it took in, for the record
  /// of a shutdown (every accepted Flow has been handed to its session by then).
  ~grpc_listener_state() {
    log(log_level::info, "grpc listener stopped",
        {{"listener", listener},
         {"requests", std::to_string(requests)},
         {"flows", std::to_string(flows)},
         {"flows_accepted", std::to_string(flows - rejected)},
         {"flows_rejected", std::to_string(rejected)}});
  }
  monitoring::grpc_metrics metrics;
  std::string listener;
  std::uint64_t requests = 0, flows = 0, rejected = 0;
  monitoring::log_rate_limiter rejected_log{10, std::chrono::seconds{10}};
  monitoring::log_rate_limiter refused_log{10, std::chrono::seconds{10}};
};

} // namespace

std::variant<net::listener_ptr, std::string> start_grpc_listener(const acceptor_context& ctx,
                                                                 const asio::ip::address& addr,
                                                                 std::uint16_t port, bool tls) {
  auto& sessions = ctx.sessions;
  const auto& collector = sessions.collector();
  rpc::export_server_options o;
  o.host = addr.to_string();
  o.port = port;
  o.limits.max_message_size = collector.grpc.max_message_size;
  o.keepalive_time =
      std::chrono::duration_cast<std::chrono::milliseconds>(collector.grpc.keepalive_time);
  o.keepalive_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(collector.grpc.keepalive_timeout);
  o.limits.include_k8s_uids = collector.grpc.include_k8s_uids;
  if (tls) {
    // The same [collector.tls] as tls:// listeners (antrea-grpc-transport.md 3: Antrea's
    // aggregator requires client certificates; a client_ca here does the same).
    const auto& t = collector.tls;
    // The allow-list is applied per stream (PERMISSION_DENIED), not in the handshake.
    auto made = net::make_server_context({.cert = t.cert,
                                          .key = t.key,
                                          .client_ca = t.client_ca,
                                          .allowed_names = {},
                                          .min_version = t.min_version});
    if (auto* err = std::get_if<std::string>(&made))
      return *err;
    o.tls = std::get<net::ssl_context_ptr>(std::move(made));
    o.allowed_names = t.allowed_names;
  }
  // The listener's name for the log.
  std::string name = tls ? "grpcs://" : "grpc://";
  name += net::endpoint_text(addr, port);
  auto st = std::make_shared<grpc_listener_state>(*ctx.metrics.registry(), std::move(name));
  const auto proto = tls ? messages::transport::grpcs : messages::transport::grpc;
  rpc::export_server_handlers h;
  h.open = [&sessions, proto](const asio::ip::address& a, std::uint16_t p,
                              net::inbound_ptr in) -> std::optional<rpc::export_session> {
    auto slot = sessions.admit(proto, a);
    if (!slot)
      return std::nullopt;
    auto s = sessions.open(proto, a, p, std::move(in), std::move(slot));
    return rpc::export_session{sessions.new_session_budgets(), session_registry::frames_to(s.actor),
                               session_registry::close_to(s)};
  };
  h.refused = [st](std::string_view reason, const std::string& peer, const std::string& detail) {
    st->metrics.streams_refused(reason).Increment();
    if (auto suppressed = st->refused_log.admit())
      log(log_level::warn, "grpc stream refused",
          {{"reason", std::string{reason}},
           {"peer", peer},
           {"detail", detail},
           {"suppressed", std::to_string(*suppressed)}});
  };
  h.rejected = [st](rpc::flow_error reason, std::uint64_t n, const std::string& peer) {
    st->metrics.flows_rejected(rpc::to_string(reason)).Increment(static_cast<double>(n));
    st->rejected += n;
    if (!monitoring::log_enabled(log_level::warn))
      return;
    if (auto suppressed = st->rejected_log.admit())
      log(log_level::warn, "grpc flows refused",
          {{"reason", std::string{rpc::to_string(reason)}},
           {"flows", std::to_string(n)},
           {"peer", peer},
           {"suppressed", std::to_string(*suppressed)}});
  };
  h.received = [st](std::uint64_t requests, std::uint64_t flows) {
    st->requests += requests;
    st->flows += flows;
    st->metrics.requests().Increment(static_cast<double>(requests));
    st->metrics.flows().Increment(static_cast<double>(flows));
  };
  h.handshake_failed = [&metrics = ctx.metrics](std::string_view reason, const std::string& peer,
                                                const std::string& detail) {
    report_tls_handshake_failure(metrics, reason, peer, detail);
  };
  auto made = rpc::export_server::start(std::move(o), std::move(h));
  if (auto* err = std::get_if<std::string>(&made))
    return *err;
  return std::get<std::shared_ptr<rpc::export_server>>(std::move(made));
}

} // namespace fa::app
