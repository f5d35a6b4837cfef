#pragma once

// Lifecycle (DESIGN 2, app/): owns the actor system, the io_context, the session
// registry, the pipeline and the listeners; starts them in order and shuts everything
// down in order: listeners, sessions, enrichers, aggregators (mode = "aggregate": every
// flow exported), destinations (drained), actors, threads. It is the facade the admin
// API inspects (app/supervisor_inspect.cpp), and applies a reload as a transaction over
// the pipeline and the registry (app/supervisor_reload.cpp).

#include "app/actor_list.hpp"
#include "app/admin_server.hpp"
#include "app/pipeline.hpp"
#include "app/session_registry.hpp"
#include "config/config.hpp"
#include "messages/status.hpp"
#include "monitoring/metrics.hpp"
#include "net/io_runtime.hpp"
#include "net/listener.hpp"

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
  /// mode = "aggregate": each shard's status (none in proxy mode).
  std::vector<messages::aggregator_status> aggregators();
  /// mode = "aggregate": the flows matching `q` over every shard, at most `q.limit`
  /// (`more` when others matched). Empty in proxy mode.
  messages::flow_page flows(const messages::flow_query& q);
  /// Every live actor, each asked for its own stats (at high priority, all at once);
  /// those that do not answer within `timeout` are listed unanswered.
  std::vector<actor_row> actors(std::chrono::milliseconds timeout = std::chrono::seconds{5});
  std::size_t open_sessions() const { return sessions_->open_sessions(); }
  std::size_t output_templates() const { return pipeline_->table()->size(); }
  /// IP addresses in the label cache's current snapshot.
  std::uint64_t label_ips();
  /// The label cache's status and readiness, with the Pods that held `ip` ("" = none).
  messages::label_status label_status(const std::string& ip = "");

 private:
  /// The running config. The sections a reload changes ([[destination]], fanout,
  /// enrichment, labels, kubernetes, aggregate timeouts, runtime log and shutdown keys)
  /// are written and read under `cfg_mtx_` after start; the rest is never written after
  /// start, so it is read without a lock.
  config::config cfg_;
  mutable std::mutex cfg_mtx_;
  /// Keys reported as waiting for a restart (their gauge is 1).
  std::vector<std::string> restart_pending_;
  /// Declared before the actor system so it is destroyed after it: actor states own
  /// sockets and timers of this io_context.
  net::io_runtime io_;
  caf::actor_system_config caf_cfg_;
  std::unique_ptr<caf::actor_system> system_;
  monitoring::metrics metrics_;
  /// Admission, budgets and the open sessions; the acceptors' only counterpart.
  std::unique_ptr<session_registry> sessions_;
  /// The data path's actors for the configured mode.
  std::unique_ptr<pipeline> pipeline_;
  std::vector<net::listener_ptr> listeners_;
  /// The tls:// listeners' context, shared by all of them; app/tls_sessions.cpp.
  std::shared_ptr<net::tls_server_context> tls_server_;
  std::unique_ptr<admin_server> admin_;
  std::atomic<bool> listening_{false};
  bool stopped_ = false;
};

} // namespace fa::app
