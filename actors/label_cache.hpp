#pragma once

// label_cache (DESIGN 2): owns the Pod index and publishes immutable snapshots to the
// enrichers. Sources:
// - "none": the index stays empty and every lookup misses, which the enrichers encode as
//   "" (antrea-proxy-semantics.md 4);
// - "file": Pod objects as the Kubernetes API returns them, re-read when the file
//   changes. It reads files, so the supervisor spawns the actor detached (DESIGN 4);
// - "kubernetes": LIST + WATCH of Pods (labels/pod_watcher.hpp) on the watcher's own
//   thread, which sends what it reads here as `pod_updates`; the actor itself never
//   blocks. Not ready until the first full LIST is indexed.
// Snapshots are published debounced: a run of Pod events makes one snapshot, and a
// snapshot costs the shards the events touched (labels/pod_snapshot.hpp).

#include "actors/interfaces.hpp"
#include "labels/kube_client.hpp"
#include "labels/pod_index.hpp"
#include "labels/pod_watcher.hpp"
#include "monitoring/metrics.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace fa::actors {

struct label_cache_config {
  enum class source_kind : std::uint8_t { none, file, kubernetes };
  source_kind source = source_kind::none;
  std::string file;
  labels::kube_api_config api;          ///< source = kubernetes
  std::chrono::seconds retention{300};  ///< deleted Pods stay this long (Antrea: 5 min)
  std::chrono::milliseconds poll{1000}; ///< file checks and retention expiry
  /// Pod events within this long of the first one share one snapshot.
  std::chrono::milliseconds debounce{50};
  /// Pods, IPs, sync time, restarts and errors, updated per tick and per snapshot.
  monitoring::metrics* metrics = nullptr;
};

struct label_cache_state {
  label_cache_state() = default;
  ~label_cache_state(); ///< stops the watcher thread
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
  // Kubernetes source.
  std::unique_ptr<labels::pod_watcher> watcher;
  labels::pod_update_applier applier; ///< what a LIST means across its pages
  bool synced = false;
  std::int64_t last_sync = 0;
  std::int64_t last_change = 0;
  bool publish_pending = false;
  std::uint64_t snapshots = 0;
  std::uint64_t expired = 0;
  static inline const char* name = "label_cache";
};

label_cache_actor::behavior_type
label_cache(label_cache_actor::stateful_pointer<label_cache_state> self, label_cache_config cfg);

} // namespace fa::actors
