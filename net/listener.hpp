#pragma once

// A bound listening socket of any transport (TCP, TLS, UDP), as the supervisor sees it.

#include <asio.hpp>

#include <cstdint>
#include <memory>

namespace fa::net {

class listener {
 public:
  virtual ~listener() = default;

  /// The bound address and port (port 0 in the config resolved).
  virtual asio::ip::address address() const = 0;
  virtual std::uint16_t port() const = 0;

  /// Stops accepting new sessions (TCP/TLS) or new exporters (UDP). Established
  /// sessions are closed by the supervisor, not here.
  virtual void stop() = 0;
};

using listener_ptr = std::shared_ptr<listener>;

} // namespace fa::net
