#pragma once

// The downstream connection of one exporter session, whatever its transport (TCP, TLS,
// UDP). Every call is thread-safe and runs on the client's strand; results come back
// through callbacks, which the exporter turns into actor messages. Each connection
// attempt has a generation number so late callbacks of an old connection are
// recognised and ignored.

#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace fa::net {

/// One gather write: the buffers and whatever keeps their memory alive until the write
/// completes (DESIGN 2: bodies are written with scatter/gather, never copied again).
/// Over UDP each entry of `datagrams` (a count of consecutive buffers) is one datagram.
struct write_job {
  std::vector<asio::const_buffer> buffers;
  /// UDP only: buffers per datagram, in order; their sum is `buffers.size()`.
  std::vector<std::uint32_t> datagrams;
  std::shared_ptr<const void> keepalive;
  std::size_t size() const { return asio::buffer_size(buffers); }
};

/// How a connection ended, for the exporter's replay (actors/exporter_session.hpp).
struct disconnect_info {
  std::string reason;
  /// The collector closed cleanly (TCP FIN, TLS close_notify): a socket closed with
  /// unread data sends a reset instead, so the collector read what its TCP
  /// acknowledged. False for resets, errors, timeouts and failed connects.
  bool clean = false;
  /// With `clean`: octets written on the connection that the collector's TCP never
  /// acknowledged (SIOCOUTQ once it had everything, reset, or time ran out); they must
  /// be sent again.
  std::size_t unacked = 0;
};

struct client_handlers {
  std::function<void(std::uint64_t gen)> connected;
  std::function<void(std::uint64_t gen, disconnect_info end)> disconnected;
  /// `unacked`: octets written on this connection that the collector's TCP has not
  /// acknowledged yet, read from the kernel right after the write (SIOCOUTQ; for TLS the
  /// ciphertext, a little more than the plaintext); always 0 over UDP.
  std::function<void(std::uint64_t gen, std::size_t bytes, std::size_t unacked)> written;
};

/// Octets the kernel still holds for `fd`, written but not acknowledged by the peer
/// (SIOCOUTQ: unsent plus unacknowledged); 0 when it cannot tell.
std::size_t unacknowledged_octets(int fd);

/// Where an orderly close of `fd` stands after the peer's FIN and ours: everything we
/// wrote, our FIN included, was acknowledged; the peer reset with octets still
/// unacknowledged (it had closed for good, not just its sending side); or neither yet.
enum class close_progress { acknowledged, reset, waiting };
close_progress orderly_close_progress(int fd, std::size_t& unacked);

/// After the collector's clean close and our FIN on `fd`: checks every 10 ms until the
/// collector's TCP acknowledged everything (a collector that only half-closed reads on
/// to our FIN), reset, or `deadline` passed, then calls `done(unacked)`: 0 = it has
/// everything, else the octets it never acknowledged. Cancelling `timer` abandons it.
template <class Done>
void await_acknowledgement(asio::steady_timer& timer, int fd,
                           std::chrono::steady_clock::time_point deadline, Done done) {
  std::size_t unacked = 0;
  if (orderly_close_progress(fd, unacked) != close_progress::waiting ||
      std::chrono::steady_clock::now() >= deadline) {
    done(unacked);
    return;
  }
  timer.expires_after(std::chrono::milliseconds{10});
  timer.async_wait([&timer, fd, deadline, done = std::move(done)](asio::error_code ec) mutable {
    if (!ec)
      await_acknowledgement(timer, fd, deadline, std::move(done));
  });
}

class client {
 public:
  virtual ~client() = default;

  /// Starts connection attempt `gen` (closing any previous connection).
  virtual void connect(std::uint64_t gen) = 0;

  /// Writes all of `job` on connection `gen`. One write at a time: the caller waits for
  /// `written` before the next. A write that fails reports `disconnected` instead.
  virtual void write(std::uint64_t gen, std::shared_ptr<write_job> job) = 0;

  /// Finishes pending writes, then tells the peer we are done (TCP half-close).
  virtual void shutdown(std::uint64_t gen) = 0;

  /// Closes at once, no callbacks.
  virtual void stop() = 0;
};

using client_ptr = std::shared_ptr<client>;

} // namespace fa::net
