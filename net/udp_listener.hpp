#pragma once

// IPFIX over UDP (RFC 7011 10.3): one bound socket shared by every exporter. Each
// exporter (source address, source port) is one transport session of its own, opened on
// its first valid datagram and closed after `idle_timeout` of silence (after
// `untemplated_idle_timeout` while it has sent no template set), by the supervisor or by
// its session. When a limit refuses a new exporter, an idle session may make room for it
// (issue 16, defect 7): one that has sent no template set, else one silent for
// `untemplated_idle_timeout`, the longest silent first ("reclaimed"). Datagrams are received in
// batches (recvmmsg) from a non-blocking socket driven by the io_context; nothing per datagram
// blocks, allocates (except the one chunk per session and batch) or sends an actor message.
//
// RFC 7011 10.3.3: each datagram carries exactly one IPFIX message; a datagram whose
// message header does not say so is malformed, counted by reason and dropped. UDP cannot
// push back (DESIGN 3): a datagram that arrives while its session's or the process's
// byte budget is spent is dropped and counted.

#include "messages/chunk.hpp"
#include "net/inbound.hpp"
#include "net/listener.hpp"

#include <asio.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fa::net {

/// Why a received datagram was not handed to a session.
enum class udp_drop : std::uint8_t {
  short_header,    ///< fewer than 16 octets: no message header (RFC 7011 3.1)
  bad_version,     ///< version is not 10 (RFC 7011 3.1)
  length_mismatch, ///< header length differs from the datagram size (RFC 7011 10.3.3)
  truncated,       ///< larger than the receive slot (MSG_TRUNC); cannot happen with 64 KiB slots
  too_large,       ///< larger than collector.max_message_size
  budget,          ///< the session's or the process's byte budget was spent (DESIGN 3)
  refused,         ///< a new exporter was refused (max_sessions)
  socket_overflow, ///< the kernel dropped it: the socket receive buffer was full (SO_MEMINFO)
};
inline constexpr std::size_t num_udp_drops = 8;
using udp_drop_counts = std::array<std::uint64_t, num_udp_drops>; ///< indexed by udp_drop

/// Stable snake_case names, used as metric labels. The three malformed reasons match
/// the codec's (`short_header`, `bad_version`) or are UDP's own (`datagram_length_mismatch`).
std::string_view to_string(udp_drop d);

/// True for the reasons that mean malformed input (RFC 7011 9.1).
constexpr bool is_malformed(udp_drop d) {
  return d == udp_drop::short_header || d == udp_drop::bad_version ||
         d == udp_drop::length_mismatch || d == udp_drop::truncated || d == udp_drop::too_large;
}

/// What the reader counted for one session since it last reported: the listener has
/// already put these in its metrics; the session adds them to its status.
struct udp_peer_report {
  std::uint64_t budget_drops = 0; ///< datagrams dropped, budget spent
  std::uint64_t malformed = 0;    ///< datagrams dropped as malformed
};

class udp_listener;

/// Which idle session may make room for a new exporter a limit refused.
enum class udp_reclaim : std::uint8_t {
  none,         ///< none: the exporter is refused
  any,          ///< any of the listener's (a total was reached)
  same_address, ///< one of the exporter's own address (its per-address cap was reached)
};

class udp_peer;

/// Exporters from the longest silent to the last heard, those that have sent no template
/// set apart: the candidates to reclaim, in order.
struct udp_idle_order {
  std::list<udp_peer*> untemplated;
  std::list<udp_peer*> templated;
};

/// One exporter (address, port) of a UDP listener: the `inbound` its session closes.
class udp_peer : public inbound, public std::enable_shared_from_this<udp_peer> {
 public:
  /// One chunk of whole messages (one per datagram, in arrival order) and the counts
  /// since the previous call. `data` is null when only counts are reported.
  using frames_handler = std::function<void(messages::chunk_ptr data, udp_peer_report counts)>;
  using closed_handler = std::function<void(const std::string& reason)>;

  udp_peer(std::weak_ptr<udp_listener> owner, asio::strand<asio::any_io_executor> strand,
           asio::ip::udp::endpoint remote);

  /// From any thread: forgets the exporter (its next datagram opens a new session) and
  /// calls `closed` once, on the listener's strand.
  void close(std::string reason) override;

  const asio::ip::udp::endpoint& remote() const { return remote_; }

 private:
  friend class udp_listener;
  void finish(std::string reason); ///< on the strand

  std::weak_ptr<udp_listener> owner_;
  asio::strand<asio::any_io_executor> strand_;
  asio::ip::udp::endpoint remote_;
  // Everything below is touched on the listener's strand only.
  frames_handler on_frames_;
  closed_handler on_closed_;
  messages::session_budgets budgets_;
  std::chrono::steady_clock::time_point last_seen_{};
  udp_peer_report pending_; ///< counted, not yet reported to the session
  bool closed_ = false;
  bool templated_ = false; ///< it sent a template set (RFC 7011 3.3.2: set id 2 or 3)
  /// Its places in the listener's idle orders: of all exporters, and of its address's.
  std::list<udp_peer*>::iterator order_pos_;
  udp_idle_order* address_order_ = nullptr;
  std::list<udp_peer*>::iterator address_pos_;
  // Per batch: this peer's datagrams, linked through the slot indexes.
  std::size_t batch_bytes_ = 0;
  int batch_first_ = -1;
  int batch_last_ = -1;
  bool batch_touched_ = false;
};

using udp_peer_ptr = std::shared_ptr<udp_peer>;

struct udp_listener_config {
  /// SO_RCVBUF in octets; 0 keeps the system default.
  std::size_t receive_buffer = 8 * 1024 * 1024;
  /// An exporter silent this long has its session closed.
  std::chrono::nanoseconds idle_timeout = std::chrono::minutes{30};
  /// An exporter that has sent no template set is closed after this much silence; an
  /// exporter silent this long may be reclaimed for a new one.
  std::chrono::nanoseconds untemplated_idle_timeout = std::chrono::seconds{60};
  /// Largest message accepted (collector.max_message_size); larger datagrams are
  /// malformed (`too_large`).
  std::size_t max_message_size = 65535;
  /// Datagrams per recvmmsg call. Large: at high rates one call and one actor message
  /// per exporter carry many datagrams (the slots cost address space, 64 KiB each, but
  /// only the pages datagrams touch).
  std::size_t batch = 256;
};

/// What the owner does with a new exporter: admit it and say where its datagrams go,
/// or refuse it (nullopt; counted as `refused`).
struct udp_peer_setup {
  udp_peer::frames_handler on_frames;
  udp_peer::closed_handler on_closed;
  messages::session_budgets budgets;
};

class udp_listener : public listener, public std::enable_shared_from_this<udp_listener> {
 public:
  /// Given to the accept handler: when a limit refuses the new exporter, closes an idle
  /// session that may make room for it (its `closed` handler runs, reason "reclaimed",
  /// before this returns) and says whether there was one.
  using reclaim_handler = std::function<bool(udp_reclaim)>;
  using accept_handler =
      std::function<std::optional<udp_peer_setup>(const udp_peer_ptr&, const reclaim_handler&)>;
  /// Called once per received batch (on the strand) with the datagrams it held and
  /// those dropped, by reason: the metrics.
  using counts_handler =
      std::function<void(std::uint64_t received, const udp_drop_counts& dropped)>;

  /// Binds `ep` (for "::", dual-stack: IPv4 exporters arrive as v4-mapped addresses).
  /// Throws std::system_error when the socket cannot be bound.
  udp_listener(asio::io_context& ctx, const asio::ip::udp::endpoint& ep, udp_listener_config cfg,
               accept_handler on_accept, counts_handler on_counts);
  ~udp_listener() override;

  /// Starts receiving and the idle sweep (not in the constructor: handlers need
  /// shared_from_this).
  void start();

  asio::ip::address address() const override { return local_.address(); }
  std::uint16_t port() const override { return local_.port(); }

  /// Stops receiving; open sessions stay until closed through their `inbound`.
  void stop() override;

  /// The receive buffer the kernel granted (getsockopt SO_RCVBUF after setting it).
  std::size_t effective_receive_buffer() const { return effective_rcvbuf_; }

  /// Totals since start (tests, inspection).
  std::uint64_t datagrams() const { return datagrams_.load(); }
  std::uint64_t dropped(udp_drop d) const { return dropped_[static_cast<std::size_t>(d)].load(); }
  /// Exporters with an open session (read on the strand; approximate elsewhere).
  std::size_t peers() const { return num_peers_.load(); }

 private:
  friend class udp_peer;
  struct peer_key {
    std::array<std::uint8_t, 16> addr{}; ///< IPv6, IPv4 in v4-mapped form
    std::uint16_t port = 0;
    bool operator==(const peer_key&) const = default;
  };
  struct peer_key_hash {
    std::size_t operator()(const peer_key& k) const noexcept;
  };
  static peer_key key_of(const asio::ip::udp::endpoint& ep);

  void wait_readable();
  void receive();
  /// One recvmmsg batch; returns the number of datagrams (0: nothing pending).
  std::size_t receive_batch(std::chrono::steady_clock::time_point now);
  void deliver_batch();
  void count(udp_drop d, std::uint64_t n);
  /// Counts what the kernel dropped since the last call (`socket_overflow`).
  void count_kernel_drops();
  void schedule_sweep();
  void sweep();
  void forget(const udp_peer* p); ///< on the strand
  /// A new exporter: admitted (and in `peers_`) or refused (nullptr).
  udp_peer* open_peer(const peer_key& key, const asio::ip::udp::endpoint& remote,
                      std::chrono::steady_clock::time_point now);
  /// Closes the session that may make room for a new exporter of `key` ("reclaimed").
  bool reclaim(udp_reclaim scope, const peer_key& key, std::chrono::steady_clock::time_point now);
  /// Hands what `p` counted since its last report to its session.
  static void report_pending(udp_peer& p);
  /// Heard from `p` (now): it moves to the back of its idle orders.
  void touch(udp_peer& p);
  /// `p` sent a template set: it moves to the templated orders.
  void mark_templated(udp_peer& p);

  asio::ip::udp::socket socket_;
  asio::strand<asio::any_io_executor> strand_;
  asio::steady_timer sweep_timer_;
  udp_listener_config cfg_;
  accept_handler on_accept_;
  counts_handler on_counts_;
  asio::ip::udp::endpoint local_;
  std::size_t effective_rcvbuf_ = 0;
  bool stopped_ = false;

  std::unordered_map<peer_key, udp_peer_ptr, peer_key_hash> peers_;
  std::atomic<std::size_t> num_peers_{0};
  /// The idle order of every exporter, and of each source address's (keyed with port 0;
  /// the nodes of an unordered_map stay put, so peers point at theirs).
  udp_idle_order order_;
  std::unordered_map<peer_key, udp_idle_order, peer_key_hash> by_address_;

  // Receive slots, allocated once: `batch` slots of 64 KiB (a datagram is at most 65535
  // octets) and their headers.
  struct slots;
  std::unique_ptr<slots> slots_;
  std::vector<udp_peer*> touched_; ///< peers with datagrams in the current batch
  std::uint32_t kernel_drops_ = 0; ///< last SK_MEMINFO_DROPS value (a running count)
  udp_drop_counts batch_drops_{};

  std::atomic<std::uint64_t> datagrams_{0};
  std::array<std::atomic<std::uint64_t>, num_udp_drops> dropped_{};
};

using udp_listener_ptr = std::shared_ptr<udp_listener>;

} // namespace fa::net
