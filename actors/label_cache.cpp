#include "actors/label_cache.hpp"

namespace fa::actors {

label_cache_actor::behavior_type
label_cache(label_cache_actor::stateful_pointer<label_cache_state> self) {
  self->state.current = std::make_shared<const labels::pod_snapshot>();
  return {
      [=](caf::subscribe_atom, enricher_actor e) {
        self->send(e, messages::label_snapshot{self->state.current});
        self->state.subscribers.push_back(std::move(e));
      },
      [=](caf::get_atom) { return static_cast<std::uint64_t>(self->state.current->num_ips()); },
  };
}

} // namespace fa::actors
