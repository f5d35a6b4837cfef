#pragma once

// exporter_session (DESIGN 2): owns one downstream IPFIX connection (TCP, TLS or UDP).
// Packs enriched sets into messages of at most max_message_size, writes them with
// scatter/gather, keeps its own sequence numbers, announces templates before first
// use and after every reconnect, and reconnects with backoff (RFC 7011 10.4.4).
//
// Over TCP and TLS, delivery is at least once across a collector's crash or reset
// (RFC 7011 10.4 has no acknowledgement above TCP): sets written are kept until they are
// safely behind what the collector's TCP acknowledged, and a connection that ends first
// has them queued again for the next one (`replay_window`, README "Architecture").
//
// Over UDP (`datagram`), every message is one datagram (RFC 7011 10.3.3), templates are
// never withdrawn (RFC 7011 8.4: a changed definition is simply announced again) and
// are re-announced every `template_refresh` and every `template_refresh_messages`
// messages (RFC 7011 8.4, 10.3.6), so a collector that lost them or restarted can
// decode again.

#include "actors/interfaces.hpp"
#include "monitoring/metrics.hpp"
#include "monitoring/rate_limited_log.hpp"
#include "net/tcp_client.hpp"
#include "net/udp_client.hpp"

#include <chrono>
#include <deque>
#include <optional>
#include <unordered_map>

namespace fa::actors {

/// The exporter's own protocol: the destination interface plus the connection's
/// callbacks and timers.
using exporter_session_actor = destination_actor::extend<
    // The connection of generation `gen` is up.
    caf::reacts_to<connected_atom, std::uint64_t>,
    // The connection of generation `gen` could not be made or was lost: reason, whether
    // the collector closed cleanly, and then the octets its TCP had not acknowledged.
    caf::reacts_to<disconnected_atom, std::uint64_t, std::string, bool, std::uint64_t>,
    // The write on generation `gen` completed with `n` octets; the connection's octets
    // not yet acknowledged by the collector's TCP.
    caf::reacts_to<written_atom, std::uint64_t, std::uint64_t, std::uint64_t>,
    // Timers: partial-message flush and reconnect backoff, tagged with a generation.
    caf::reacts_to<caf::flush_atom, std::uint64_t>, caf::reacts_to<reconnect_atom, std::uint64_t>>;

enum class on_full_policy : std::uint8_t { block, drop };

struct exporter_session_config {
  std::string name;
  std::string url;
  std::string host;
  std::uint16_t port = 4739;
  std::uint32_t observation_domain_id = 0;
  std::size_t max_message_size = 65535;
  std::chrono::milliseconds flush_interval{10};
  std::size_t queue_size = 64u << 20;
  on_full_policy on_full = on_full_policy::block;
  std::chrono::milliseconds reconnect_min{1000};
  std::chrono::milliseconds reconnect_max{60000};
  std::chrono::milliseconds connect_timeout{10000};
  /// Largest write: several messages go out in one gather write.
  std::size_t max_write = 1u << 20;
  /// TCP/TLS: after a connection ends without a clean close, the sets in this many
  /// octets before the last one the collector's TCP acknowledged are sent again too (it
  /// or a proxy in front may have held them unread); what it had not acknowledged always is.
  std::size_t replay_window = 4u << 20;
  asio::io_context* io = nullptr;
  monitoring::metrics* metrics = nullptr;
  /// UDP: one message per datagram, no withdrawals, periodic template refresh.
  bool datagram = false;
  /// UDP: templates are announced again when this much time passed since the last
  /// refresh (RFC 7011 8.4 / 10.3.6).
  std::chrono::milliseconds template_refresh{600000};
  /// UDP: ... and after this many messages; 0 = by time only.
  std::uint32_t template_refresh_messages = 0;
  /// UDP: send runs of equal-sized messages with UDP GSO (net/udp_client.hpp).
  bool udp_gso = true;
  /// Makes the connection (TLS); unset = plain TCP to host:port, or UDP with `datagram`.
  std::function<net::client_ptr(net::client_handlers)> make_client;
};

struct exporter_session_state {
  exporter_session_state() = default;

  /// A queued batch: its sets [next_set, end_set) are not yet committed (written). A
  /// batch queued again after a lost connection covers only the sets sent again.
  struct queued {
    std::shared_ptr<const messages::enriched_payload> payload;
    messages::payload_credit hold; ///< on_full = "block": released once written or dropped
    std::size_t next_set = 0;
    std::size_t end_set = 0;
  };

  /// A set written on the current TCP/TLS connection that the collector may not have
  /// read: kept until it lies `replay_window` octets behind what the collector's TCP
  /// acknowledged, queued again if the connection ends first.
  struct written_set {
    std::shared_ptr<const messages::enriched_payload> payload;
    std::size_t set = 0;
    std::uint64_t end = 0; ///< connection octets up to the end of the set's message
  };

  exporter_session_config cfg;
  net::client_ptr client;
  std::uint64_t gen = 0;
  bool connected = false;
  bool writing = false;
  std::deque<queued> queue;      ///< everything not yet confirmed written
  std::size_t queued_bytes = 0;  ///< payload octets of `queue` not yet confirmed
  std::size_t unsent_bytes = 0;  ///< octets not part of the write in flight
  std::size_t inflight_sets = 0; ///< sets (from the queue front) in the write in flight
  std::uint64_t inflight_records = 0;
  std::size_t inflight_bytes = 0; ///< set octets in the write in flight
  std::uint64_t inflight_messages = 0;
  /// Per set of the write in flight (TCP/TLS): where its message ends within the write.
  std::vector<std::uint64_t> inflight_ends;
  std::deque<written_set> unconfirmed;          ///< oldest first
  std::uint64_t conn_octets = 0;                ///< octets written on this connection
  std::uint64_t conn_acked = 0;                 ///< of which its TCP acknowledged, at the last look
  caf::actor_clock::time_point oldest_unsent{}; ///< when the oldest unsent set was queued
  std::uint64_t flush_gen = 0;
  bool flush_armed = false;
  std::chrono::milliseconds backoff{0};
  std::uint32_t sequence = 0; ///< data records sent on this connection (RFC 7011 3.1)
  /// What the collector was told each id means. Weak: an announced id stays free to be
  /// recycled (issue 16 defect 2); an id whose template is gone is withdrawn before it
  /// is announced again (TCP, RFC 7011 8).
  std::unordered_map<std::uint16_t, std::weak_ptr<const messages::output_template>> announced;
  /// UDP: when the templates were last announced afresh, and messages sent since.
  caf::actor_clock::time_point last_refresh{};
  std::uint64_t messages_since_refresh = 0;
  /// UDP: the connection follows a failure; its first write is a single message.
  bool probe = false;
  std::vector<caf::typed_response_promise<bool>> drains;
  /// The outage in progress, for its log lines: since when (unset = none), failed
  /// connection attempts and records queued again.
  std::optional<caf::actor_clock::time_point> outage_since;
  std::uint64_t outage_attempts = 0;
  std::uint64_t outage_replayed = 0;
  /// Outage log lines (STYLE: a collector flapping many times a second is logged with a
  /// rate limit): connections lost, attempts failed, connections made.
  monitoring::log_rate_limiter lost_log, failed_log, connected_log;
  messages::destination_status status;
  monitoring::destination_metrics metrics;
  static inline const char* name = "exporter_session";
};

exporter_session_actor::behavior_type
exporter_session(exporter_session_actor::stateful_pointer<exporter_session_state> self,
                 exporter_session_config cfg);

} // namespace fa::actors
