#pragma once

// The reply of every actor to (get, stats): how busy it is (issue 5, /api/v1/actors).
// A plain value built once per inspection request, never per message.

#include <cstdint>
#include <string>

namespace fa::messages {

struct actor_stats {
  std::string type;          ///< the actor's CAF name: "enricher", "exporter_session", ...
  std::uint64_t handled = 0; ///< messages its behaviour handled since spawn (this one not)
  std::uint64_t mailbox = 0; ///< messages waiting in its mailbox, read by the actor itself
  std::int64_t since = 0;    ///< unix seconds when its behaviour was made (spawn)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_stats& x) {
  return f(x.type, x.handled, x.mailbox, x.since);
}

} // namespace fa::messages
