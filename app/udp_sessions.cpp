#include "app/supervisor.hpp"

namespace fa::app {

std::variant<net::listener_ptr, std::string>
supervisor::start_udp_listener(const asio::ip::address&, std::uint16_t) {
  return std::string{"udp:// listeners are not built yet"};
}

} // namespace fa::app
