#pragma once

// Wiring and lifecycle (DESIGN 2, app/): owns the actor system, the io_context, every
// strong actor handle and the listeners, and shuts everything down in order:
// listeners, sessions, enrichers, aggregators (mode = "aggregate": every flow exported),
// destinations (drained), actors, threads.

#include "actors/aggregator.hpp"
#include "actors/enricher.hpp"
#include "actors/enrichment_options.hpp"
#include "actors/interfaces.hpp"
#include "actors/output_template_table.hpp"
#include "app/actor_list.hpp"
#include "app/admin_server.hpp"
#include "app/session_slots.hpp"
#include "config/config.hpp"
#include "monitoring/metrics.hpp"
#include "monitoring/rate_limited_log.hpp"
#include "net/io_runtime.hpp"
#include "net/tcp_connection.hpp"

#include <caf/all.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace fa::net {
class tls_server_context;
}

namespace fa::app {

class supervisor {
 public:
  explicit supervisor(config::config cfg);
  ~supervisor();
  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  /// Starts actors, destinations, the admin endpoint and the listeners. Returns an
  /// error text when something cannot start (a port in use, an unreadable file).
  std::optional<std::string> start();

  /// Ordered shutdown; waits at most `drain_timeout` for queued records to leave.
  /// Returns the number of records still queued when it gave up (0 = clean).
  std::uint64_t stop(std::chrono::milliseconds drain_timeout = std::chrono::seconds{10});

  /// SIGHUP: re-reads the tls:// listeners' certificate, key and client CA for new
  /// handshakes; established sessions keep theirs. On an error (a missing or bad file)
  /// returns it and keeps the current files. No tls:// listener: nothing to do.
  std::optional<std::string> reload_tls();

  /// What a config reload did.
  struct reload_outcome {
    std::optional<std::string> error;          ///< set: nothing was changed
    std::vector<std::string> applied;          ///< keys applied live
    std::vector<std::string> restart_required; ///< keys whose new value waits for a restart
  };

  /// Applies a validated config (its cluster_id resolved) to the running process
  /// without dropping exporter sessions (app/reload.hpp lists what applies live):
  /// destinations are added, removed (drained within runtime.shutdown_timeout, what is
  /// left counted as dropped, reason "removed") or replaced; enrichers get the new
  /// destination list and options; sessions plan their templates again when
  /// [enrichment] changed; the label cache restarts with a changed source; the log
  /// level and format change at once. Keys that need a restart keep their running
  /// value and are reported. Called from one thread (the signal loop), never
  /// concurrently with `stop`.
  reload_outcome reload(const config::config& next);

  /// The ports the listeners are bound to, in config order (port 0 resolved).
  std::vector<std::uint16_t> listen_ports() const;
  /// Every configured listener is bound and the supervisor is not stopping.
  bool listening() const { return listening_.load(); }
  /// The admin port, or 0 when the admin endpoint is off.
  std::uint16_t admin_port() const;

  monitoring::metrics& metrics() { return metrics_; }
  caf::actor_system& system() { return *system_; }
  /// The configuration in effect: the start's, with what reloads applied (a copy: a
  /// reload may change it while the admin API reads it).
  config::config effective_config() const;

  std::vector<messages::session_status> sessions();
  std::vector<messages::destination_status> destinations();
  std::vector<messages::enricher_status> enrichers();
  /// mode = "aggregate": each shard's status (none in proxy mode). app/aggregators.cpp.
  std::vector<messages::aggregator_status> aggregators();
  /// mode = "aggregate": the flows matching `q` over every shard, at most `q.limit`
  /// (`more` when others matched). Empty in proxy mode.
  messages::flow_page flows(const messages::flow_query& q);
  /// Every live actor, each asked for its own stats (at high priority, all at once);
  /// those that do not answer within `timeout` are listed unanswered. app/actor_list.cpp.
  std::vector<actor_row> actors(std::chrono::milliseconds timeout = std::chrono::seconds{5});
  std::size_t open_sessions() const { return open_sessions_.load(); }
  std::size_t output_templates() const { return table_->size(); }
  /// IP addresses in the label cache's current snapshot.
  std::uint64_t label_ips();
  /// The label cache's status and readiness, with the Pods that held `ip` ("" = none).
  messages::label_status label_status(const std::string& ip = "");

 private:
  struct session_entry {
    /// Strong: a connection paused by its budget has no read pending, and nothing else
    /// keeps it alive until the session ends.
    net::inbound_ptr in;
    actors::agent_session_actor actor;
    /// Its slot (and its exporter's template share); released when the transport closes
    /// or the session ends, whichever comes first.
    session_slots::slot_ptr slot;
    messages::transport proto = messages::transport::tcp;
    std::string peer; ///< "10.0.0.1:5000", "[fd00::1]:5000" (the actors view names it so)
  };

  struct opened_session {
    std::uint64_t id = 0;
    actors::agent_session_actor actor;
    messages::session_info_ptr info;
    session_slots::slot_ptr slot;
  };

  /// A slot for a new session of `proto` from `addr`, or nullptr (counted by reason,
  /// logged rate-limited) when a limit refuses it.
  session_slots::slot_ptr admit(messages::transport proto, const asio::ip::address& addr);
  /// Counts a refused session and logs it, rate-limited.
  void refused(messages::transport proto, const asio::ip::address& addr, std::string_view reason);
  /// The deadlines of a TCP or TLS session (collector.message_timeout,
  /// first_message_timeout, tcp_idle_timeout).
  net::session_timeouts session_timeouts() const;
  /// A session's own budget, drawing on the process-wide one (DESIGN 3).
  messages::session_budgets new_session_budgets() const;
  /// Registers the session of an exporter at `addr`:`port` received through `in` and
  /// spawns its agent_session. The caller then feeds `frames_to(actor)` and calls
  /// `close_to(session)` exactly once when the transport ends.
  opened_session open_session(messages::transport proto, const asio::ip::address& addr,
                              std::uint16_t port, net::inbound_ptr in,
                              session_slots::slot_ptr slot);
  static net::tcp_connection::frames_handler frames_to(actors::agent_session_actor actor);
  static net::tcp_connection::closed_handler close_to(const opened_session& s);

  void accept(asio::ip::tcp::socket socket);
  /// udp:// listener: one session per exporter (address, port); app/udp_sessions.cpp.
  std::variant<net::listener_ptr, std::string> start_udp_listener(const asio::ip::address& addr,
                                                                  std::uint16_t port);
  /// tls:// listener: handshake, then a TCP-like session; app/tls_sessions.cpp.
  std::variant<net::listener_ptr, std::string> start_tls_listener(const asio::ip::address& addr,
                                                                  std::uint16_t port);
  /// grpc:// and grpcs:// listeners: Antrea's FlowExportService; app/grpc_sessions.cpp.
  std::variant<net::listener_ptr, std::string> start_grpc_listener(const asio::ip::address& addr,
                                                                   std::uint16_t port, bool tls);
  void session_ended(std::uint64_t id);
  std::optional<std::string> start_destinations();
  /// A label cache for `cfg`'s [labels] and [kubernetes] (not yet subscribed to).
  std::variant<actors::label_cache_actor, std::string> spawn_label_cache(const config::config& cfg);
  /// What the enrichers need from `cfg`: its destinations (`handles`, in config order),
  /// fanout, enrichment options and set size limit.
  actors::enricher_config enricher_setup(const config::config& cfg,
                                         const std::vector<actors::destination_actor>& handles);
  // mode = "aggregate" (app/aggregators.cpp).
  /// The shards' config: the destinations and fanout of `routes` (an enricher setup),
  /// the [aggregate] timeouts and policy, each shard's share of max_flows.
  actors::aggregator_config aggregator_setup(const config::config& cfg,
                                             const actors::enricher_config& routes);
  /// Spawns the shards for `ec`'s destinations, then points `ec` at the shards.
  void start_aggregators(actors::enricher_config& ec);
  /// Reload: the shards take `target`'s routes (from `ec`) and timeouts, confirmed; then
  /// `ec` is pointed at the shards.
  void reconfigure_aggregators(const config::config& target, actors::enricher_config& ec);
  /// Points an enricher setup at the shards instead of the destinations.
  void route_to_shards(actors::enricher_config& ec) const;
  /// Shutdown: every shard exports every flow to the destinations, within `deadline`.
  void drain_aggregators(std::chrono::steady_clock::time_point deadline);

  /// Drains a destination a reload removed, within `timeout`; counts and returns the
  /// records it could not send, then stops it.
  std::uint64_t retire_destination(const actors::destination_actor& d, const std::string& name,
                                   std::chrono::milliseconds timeout);

  /// The running config. The sections a reload changes ([[destination]], fanout,
  /// enrichment, labels, kubernetes, runtime log and shutdown keys) are written and read
  /// under `live_mtx_` after start; the rest is never written after start, so the I/O
  /// threads read it without a lock.
  config::config cfg_;
  /// Guards, after start: cfg_'s live sections, enrichment_, destinations_, labels_.
  /// Lock order: live_mtx_ before sessions_mtx_.
  mutable std::mutex live_mtx_;
  /// Keys reported as waiting for a restart (their gauge is 1).
  std::vector<std::string> restart_pending_;
  /// Declared before the actor system so it is destroyed after it: actor states own
  /// sockets and timers of this io_context.
  net::io_runtime io_;
  caf::actor_system_config caf_cfg_;
  std::unique_ptr<caf::actor_system> system_;
  monitoring::metrics metrics_;
  std::shared_ptr<actors::output_template_table> table_;
  actors::enrichment_options enrichment_;    ///< from [enrichment] and cluster_id, set by start()
  messages::byte_budget_ptr receive_budget_; ///< shared by every session (DESIGN 3)
  /// collector.template_budget, shared by every session's templates (issue 16).
  ipfix::template_budget_ptr template_budget_;
  /// Who may open a session, and each exporter address's template share.
  session_slots_ptr slots_;
  actors::template_registry_actor registry_;
  actors::label_cache_actor labels_;
  std::vector<actors::enricher_actor> enrichers_;
  /// mode = "aggregate": the flow table shards (the enrichers' destinations); empty in
  /// proxy mode. Set at start, never changed after.
  std::vector<actors::aggregator_actor> aggregators_;
  std::vector<actors::destination_actor> destinations_;
  std::vector<net::listener_ptr> listeners_;
  /// The tls:// listeners' context, shared by all of them; app/tls_sessions.cpp.
  std::shared_ptr<net::tls_server_context> tls_server_;
  std::unique_ptr<admin_server> admin_;
  std::atomic<bool> listening_{false};

  mutable std::mutex sessions_mtx_;
  std::map<std::uint64_t, session_entry> sessions_;
  std::atomic<std::size_t> open_sessions_{0};
  std::atomic<std::uint64_t> next_session_id_{0};
  /// Refused sessions: the first is logged, then one line per 10 s with the number left
  /// out (STYLE, errors); sessions_rejected_total counts each.
  monitoring::shared_log_rate_limiter refusal_log_;
  bool stopped_ = false;
};

} // namespace fa::app
