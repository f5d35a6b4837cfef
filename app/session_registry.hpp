#pragma once

// The session registry (DESIGN 2, app/): who may open an exporter session (slots and
// budgets, DESIGN 3), the open sessions, the enricher each is pinned to, and the
// enrichment options a new session starts with. The acceptors (app/listeners.hpp) open
// and close sessions through it alone; the supervisor asks it for the sessions to
// inspect, to tell of a reload, and to close on shutdown.
//
// Called from the I/O threads (open, close), the admin thread (inspection) and the
// signal thread (reload): one mutex guards the open sessions, the pinning and the
// enrichment defaults, taken when a session opens or ends, never per message.

#include "actors/enrichment_options.hpp"
#include "actors/interfaces.hpp"
#include "actors/output_template_table.hpp"
#include "app/session_slots.hpp"
#include "config/config.hpp"
#include "monitoring/metrics.hpp"
#include "monitoring/rate_limited_log.hpp"
#include "net/tcp_connection.hpp"

#include <caf/all.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace fa::app {

class session_registry {
 public:
  /// `collector` is the [collector] section, restart-only (app/reload.hpp): it never
  /// changes while the registry lives.
  session_registry(caf::actor_system& sys, config::collector_config collector,
                   monitoring::metrics& metrics);
  session_registry(const session_registry&) = delete;
  session_registry& operator=(const session_registry&) = delete;

  /// The data path new sessions feed: each is pinned to one of `enrichers` (fixed for
  /// the process's life), plans its output templates in `table` and starts with
  /// `enrichment`. Called once, before any listener starts.
  void connect(std::vector<actors::enricher_actor> enrichers,
               std::shared_ptr<actors::output_template_table> table,
               actors::enrichment_options enrichment);

  // -- admission and budgets (DESIGN 3) ---------------------------------------------

  /// A slot for a new session of `proto` from `addr`, or nullptr (counted by reason,
  /// logged rate-limited) when a limit refuses it.
  session_slots::slot_ptr admit(messages::transport proto, const asio::ip::address& addr);
  /// A slot as `admit`, but a refusal is only named in `refusal`, neither counted nor
  /// logged: the UDP acceptor first tries to make room.
  session_slots::slot_ptr acquire(messages::transport proto, const asio::ip::address& addr,
                                  std::string_view& refusal);
  /// Counts a refused session and logs it, rate-limited.
  void refused(messages::transport proto, const asio::ip::address& addr, std::string_view reason);
  /// The deadlines of a TCP or TLS session (collector.message_timeout,
  /// first_message_timeout, tcp_idle_timeout).
  net::session_timeouts session_timeouts() const;
  /// A session's own budget, drawing on the process-wide one (DESIGN 3).
  messages::session_budgets new_session_budgets() const;
  /// collector.receive_budget, shared by every session (and the aggregators' output).
  const messages::byte_budget_ptr& receive_budget() const { return receive_budget_; }
  /// The [collector] section the acceptors are configured from.
  const config::collector_config& collector() const { return collector_; }

  // -- open and close ------------------------------------------------------------

  struct opened_session {
    std::uint64_t id = 0;
    actors::agent_session_actor actor;
    messages::session_info_ptr info;
    session_slots::slot_ptr slot;
  };

  /// Registers the session of an exporter at `addr`:`port` received through `in` and
  /// spawns its agent_session, pinned to an enricher. The caller then feeds
  /// `frames_to(actor)` and calls `close_to(session)` exactly once when the transport
  /// ends.
  opened_session open(messages::transport proto, const asio::ip::address& addr, std::uint16_t port,
                      net::inbound_ptr in, session_slots::slot_ptr slot);
  static net::tcp_connection::frames_handler frames_to(actors::agent_session_actor actor);
  static net::tcp_connection::closed_handler close_to(const opened_session& s);

  // -- reload, inspection, shutdown (the supervisor) ------------------------------

  /// Sessions opened from now on start with `options`; returns the sessions open now,
  /// which the caller tells. Atomic with `open`: every session either starts with the
  /// new options or is in the list.
  std::vector<actors::agent_session_actor> use_enrichment(actors::enrichment_options options);

  /// An open session, as the inspection views name it.
  struct session_ref {
    actors::agent_session_actor actor;
    std::string peer; ///< "10.0.0.1:5000", "[fd00::1]:5000"
  };
  std::vector<session_ref> list() const;
  std::size_t open_sessions() const { return open_sessions_.load(); }

  /// Shutdown: closes every session's transport with `reason`; each reads no more and
  /// quits after what it already has.
  void close_all(const std::string& reason);
  /// Shutdown: every session's actor is stopped ...
  void stop_all(caf::scoped_actor& self);
  /// ... then, once nothing inspects them any more, forgotten.
  void forget_all();

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

  void session_ended(std::uint64_t id);

  caf::actor_system& system_;
  const config::collector_config collector_;
  monitoring::metrics& metrics_;
  messages::byte_budget_ptr receive_budget_; ///< shared by every session (DESIGN 3)
  /// collector.template_budget, shared by every session's templates (issue 16).
  ipfix::template_budget_ptr template_budget_;
  /// Who may open a session, and each exporter address's template share.
  session_slots_ptr slots_;

  /// Guards everything below but the counters.
  mutable std::mutex mtx_;
  std::vector<actors::enricher_actor> enrichers_;
  std::shared_ptr<actors::output_template_table> table_;
  actors::enrichment_options enrichment_; ///< what a new session starts with
  std::map<std::uint64_t, session_entry> sessions_;

  std::atomic<std::size_t> open_sessions_{0};
  std::atomic<std::uint64_t> next_session_id_{0};
  /// Refused sessions: the first is logged, then one line per 10 s with the number left
  /// out (STYLE, errors); sessions_rejected_total counts each.
  monitoring::shared_log_rate_limiter refusal_log_;
};

} // namespace fa::app
