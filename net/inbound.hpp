#pragma once

// The receiving side of one exporter transport session, whatever the transport: a TCP
// or TLS connection, or one UDP exporter (address, port) on a shared socket. The
// supervisor only needs to close it.

#include <memory>
#include <string>

namespace fa::net {

class inbound {
 public:
  virtual ~inbound() = default;

  /// Stops receiving, from any thread; the session's `closed` callback follows once.
  virtual void close(std::string reason) = 0;
};

using inbound_ptr = std::shared_ptr<inbound>;

} // namespace fa::net
