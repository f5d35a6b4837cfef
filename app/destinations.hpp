#pragma once

// Builds the actor behind one `[[destination]]`: an exporter_session for the IPFIX
// transports, a jsonl_sink for JSON lines.

#include "actors/interfaces.hpp"
#include "config/config.hpp"
#include "monitoring/metrics.hpp"

#include <asio.hpp>
#include <caf/all.hpp>

#include <string>
#include <variant>

namespace fa::app {

/// The destination's actor, or why it cannot start (an unreadable certificate, say).
std::variant<actors::destination_actor, std::string>
spawn_destination(caf::actor_system& sys, const config::config& cfg,
                  const config::destination_config& d, asio::io_context& io,
                  monitoring::metrics& metrics);

} // namespace fa::app
