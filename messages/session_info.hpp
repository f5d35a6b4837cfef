#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

namespace fa::messages {

/// grpc/grpcs: one Antrea FlowExportService stream (rpc/export_server.hpp), whose Flows
/// arrive as IPFIX messages of the agent's record shape, under TCP's template rules.
enum class transport : std::uint8_t { tcp, udp, tls, grpc, grpcs };

/// Who an exporter session is. Immutable once the session starts; shared by every
/// batch of the session, so enrichers read the peer address without a lookup.
struct session_info {
  std::uint64_t id = 0;
  transport proto = transport::tcp;
  /// The exporter's transport address, IPv4 addresses in IPv4-mapped IPv6 form.
  std::array<std::uint8_t, 16> peer_v6{};
  bool peer_is_v4 = false;
  std::uint16_t peer_port = 0;
  std::string peer_text; ///< "10.0.0.7:51234" or "[fd00::7]:51234"

  /// The 4 octets of an IPv4 peer (meaningless for an IPv6 peer).
  const std::uint8_t* peer_v4() const { return peer_v6.data() + 12; }
};

using session_info_ptr = std::shared_ptr<const session_info>;

} // namespace fa::messages
