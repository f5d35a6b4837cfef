#pragma once

// The ACTORS view (issue 5, /api/v1/actors and `inspect actors`): every live actor of the
// service, named by the supervisor, with what the actor itself reports about its
// mailbox and the messages it handled (actors/actor_stats.hpp).

#include "messages/actor_stats.hpp"

#include <cstdint>
#include <string>

namespace fa::app {

struct actor_row {
  std::string name;     ///< "enricher-0", "destination:main", "agent_session:10.0.0.1:5000"
  std::string role;     ///< registry, label_cache, enricher, destination, agent_session
  std::uint64_t id = 0; ///< CAF actor id
  /// False when the actor did not answer in time (stuck, or gone meanwhile): `stats`
  /// is then empty and `error` says why.
  bool answered = false;
  std::string error;
  messages::actor_stats stats;
};

} // namespace fa::app
