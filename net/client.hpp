#pragma once

// The downstream connection of one exporter session, whatever its transport (TCP, TLS,
// UDP). Every call is thread-safe and runs on the client's strand; results come back
// through callbacks, which the exporter turns into actor messages. Each connection
// attempt has a generation number so late callbacks of an old connection are
// recognised and ignored.

#include <asio.hpp>

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

struct client_handlers {
  std::function<void(std::uint64_t gen)> connected;
  std::function<void(std::uint64_t gen, std::string reason)> disconnected;
  std::function<void(std::uint64_t gen, std::size_t bytes)> written;
};

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
