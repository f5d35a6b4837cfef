#pragma once

// label_cache (DESIGN 2): owns the Pod index and publishes immutable snapshots to the
// enrichers. The sources that feed it (Kubernetes API, file) plug in here; with
// `[labels] source = "none"` the index stays empty and every lookup misses, which the
// enrichers encode as "" (antrea-proxy-semantics.md 4).

#include "actors/interfaces.hpp"

#include <vector>

namespace fa::actors {

struct label_cache_state {
  label_cache_state() = default;
  labels::pod_snapshot_ptr current;
  std::vector<enricher_actor> subscribers;
  static inline const char* name = "label_cache";
};

label_cache_actor::behavior_type
label_cache(label_cache_actor::stateful_pointer<label_cache_state> self);

} // namespace fa::actors
