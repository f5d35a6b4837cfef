#pragma once

// label_cache inspection (issue 4): what the Pod index holds, how its source is doing,
// and a lookup by IP. The admin API shows it at /api/v1/labels. Plain values, copied once
// per request.

#include <cstdint>
#include <string>
#include <vector>

namespace fa::messages {

/// One Pod that held the looked-up address.
struct label_pod {
  std::string name;
  std::string pod_namespace;
  std::string node_name;
  std::string labels_json;
  std::int64_t creation = 0; ///< unix seconds
  std::int64_t deletion = 0; ///< unix seconds when its deletion was observed; 0 = live
  bool match = false;        ///< the Pod a record stamped with the request time resolves to
};

struct label_status {
  std::string source;     ///< "none", "file" or "kubernetes"
  bool ready = false;     ///< none: always; file: a good file was loaded; kubernetes: synced
  bool synced = false;    ///< kubernetes: the first full LIST is indexed
  std::uint64_t pods = 0; ///< live and deleted-but-retained
  std::uint64_t ips = 0;
  std::int64_t last_sync = 0;     ///< unix seconds of the last full LIST or file load; 0 = never
  std::int64_t last_change = 0;   ///< unix seconds of the last Pod event applied
  std::string resource_version;   ///< kubernetes: last seen
  std::uint64_t lists = 0;        ///< complete LISTs: the first sync and every relist
  std::uint64_t relists_gone = 0; ///< relists forced by 410 Gone
  std::uint64_t watch_restarts = 0;
  std::uint64_t idle_restarts = 0; ///< watches restarted after watch_idle_timeout of silence
  std::uint64_t watch_events = 0;
  std::uint64_t bookmarks = 0;
  std::uint64_t errors = 0;           ///< failed API requests (each retried with backoff)
  std::uint64_t unauthorized = 0;     ///< of which 401/403
  std::uint64_t bad_objects = 0;      ///< Pod objects or events that did not parse, skipped
  std::uint64_t reloads = 0;          ///< file: good loads
  std::uint64_t rejected_reloads = 0; ///< file: bad files (the previous index stays)
  std::uint64_t invalid_ips = 0;      ///< Pod IPs that did not parse, skipped
  std::uint64_t snapshots = 0;        ///< snapshots published to the enrichers
  std::uint64_t shard_copies = 0;     ///< shards copied on write by those snapshots
  std::uint64_t expired = 0;          ///< deleted Pods dropped after the retention time
  std::string last_error;
  std::string lookup_ip;         ///< the address asked for ("" = no lookup)
  std::vector<label_pod> lookup; ///< every Pod that held it, oldest first
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, label_pod& x) {
  return f(x.name, x.pod_namespace, x.node_name, x.labels_json, x.creation, x.deletion, x.match);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, label_status& x) {
  return f(x.source, x.ready, x.synced, x.pods, x.ips, x.last_sync, x.last_change,
           x.resource_version, x.lists, x.relists_gone, x.watch_restarts, x.idle_restarts,
           x.watch_events, x.bookmarks, x.errors, x.unauthorized, x.bad_objects, x.reloads,
           x.rejected_reloads, x.invalid_ips, x.snapshots, x.shard_copies, x.expired, x.last_error,
           x.lookup_ip, x.lookup);
}

} // namespace fa::messages
