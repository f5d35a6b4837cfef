#pragma once

// The name of a session's transport, as metrics labels, logs and the sessions API show it.
// Apart from session_info.hpp, which nearly everything includes, so that only its users
// depend on it.

#include "messages/session_info.hpp"

#include <string_view>

namespace fa::messages {

inline std::string_view transport_name(transport t) {
  switch (t) {
  case transport::tcp:
    return "tcp";
  case transport::udp:
    return "udp";
  case transport::tls:
    return "tls";
  case transport::grpc:
    return "grpc";
  case transport::grpcs:
    return "grpcs";
  }
  return "unknown";
}

} // namespace fa::messages
