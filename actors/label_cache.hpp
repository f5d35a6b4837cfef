#pragma once

// label_cache (DESIGN 2): owns the Pod index and publishes immutable snapshots to the
// enrichers. Sources: "none" (the index stays empty and every lookup misses, which the
// enrichers encode as "", antrea-proxy-semantics.md 4) and "file" (Pod objects as the
// Kubernetes API returns them, re-read when the file changes). A file source reads
// files, so the supervisor spawns the actor detached (DESIGN 4: nothing blocks a worker).

#include "actors/interfaces.hpp"
#include "labels/pod_index.hpp"

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace fa::actors {

struct label_cache_config {
  enum class source_kind : std::uint8_t { none, file };
  source_kind source = source_kind::none;
  std::string file;
  std::chrono::seconds retention{300};  ///< deleted Pods stay this long (Antrea: 5 min)
  std::chrono::milliseconds poll{1000}; ///< how often the file's size and time are checked
};

struct label_cache_state {
  label_cache_state() = default;
  label_cache_config cfg;
  labels::pod_index index;
  labels::pod_snapshot_ptr current;
  std::vector<enricher_actor> subscribers;
  std::set<std::string> file_uids; ///< Pods the last good file held
  std::filesystem::file_time_type file_time{};
  std::uintmax_t file_size = 0;
  bool file_seen = false;
  std::uint64_t reloads = 0;
  std::uint64_t rejected_reloads = 0;
  static inline const char* name = "label_cache";
};

label_cache_actor::behavior_type
label_cache(label_cache_actor::stateful_pointer<label_cache_state> self, label_cache_config cfg);

} // namespace fa::actors
