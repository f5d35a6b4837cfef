#pragma once

// The Kubernetes list + watch loop for Pods (issue 4), on its own thread so that no actor
// thread ever blocks on the network (DESIGN 4). The protocol is client-go's reflector:
// - LIST /api/v1/pods in pages (`limit`, `continue`); the list's resourceVersion is the
//   point the watch starts from;
// - WATCH from there with allowWatchBookmarks=true: a chunked stream of one JSON event per
//   line (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR); every event moves the
//   resourceVersion on, so a watch that ends (server timeout, network, idle) resumes where
//   it stopped without a relist;
// - 410 Gone, as the HTTP status or as an ERROR event whose Status has code 410, means
//   the resourceVersion is older than the server keeps: relist;
// - any other failure: retry with exponential backoff.
// What it reads goes to a sink, which the label cache turns into a message to itself.

#include "labels/kube_client.hpp"
#include "labels/pod_json.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace fa::labels {

enum class pod_event_type : std::uint8_t { added, modified, deleted };

struct pod_event {
  pod_event_type type = pod_event_type::added;
  parsed_pod pod;
};

/// One LIST page, or the WATCH events read in one piece of the stream.
struct pod_update {
  bool list_begin = false; ///< first page of a (re)list: Pods not listed until list_end are gone
  bool list_end = false;   ///< last page: the whole state up to resource_version is delivered
  std::vector<pod_event> events; ///< list items come as `added`
  std::string resource_version;
};

/// Applies pod_updates to a Pod index, keeping what a LIST means across its pages.
/// - ADDED/MODIFIED (and list items): upsert; DELETED: upsert the last state, then the
///   deletion is observed now. Deletion is observed on DELETED (or a terminal phase), as
///   Antrea's Pod store does; a deletionTimestamp alone marks a Pod that still runs its
///   grace period, and it keeps its IP until then.
/// - A complete LIST is the whole truth at its resourceVersion: live Pods the index holds
///   that it did not deliver were deleted while no watch looked (a missed DELETED), and
///   are deleted now, to be kept for the retention time like any deleted Pod.
class pod_update_applier {
 public:
  struct result {
    bool list_completed = false;
    std::size_t deleted_unlisted = 0; ///< live Pods a completed list no longer held
  };
  result apply(pod_index& index, const pod_update& u, std::int64_t now);

 private:
  bool listing_ = false;
  std::unordered_set<std::string> listed_;
};

/// Counters of the loop, for the label cache's status.
struct pod_watcher_stats {
  std::uint64_t lists = 0; ///< complete LISTs (the first sync included)
  std::uint64_t list_pages = 0;
  std::uint64_t watches = 0;        ///< WATCH requests started
  std::uint64_t watch_restarts = 0; ///< watches that ended and were started again
  std::uint64_t idle_restarts = 0;  ///< ... because they were silent for the idle timeout
  std::uint64_t gone = 0;           ///< 410 Gone (status or ERROR event): relists
  std::uint64_t errors = 0;         ///< failed requests (network, TLS, HTTP status)
  std::uint64_t unauthorized = 0;   ///< 401/403 among them
  std::uint64_t bad_objects = 0;    ///< events or list items that did not parse (skipped)
  std::uint64_t events = 0;         ///< ADDED/MODIFIED/DELETED events read
  std::uint64_t bookmarks = 0;
  std::string resource_version; ///< last seen
  std::string last_error;
};

class pod_watcher {
 public:
  using sink = std::function<void(pod_update)>;

  pod_watcher(kube_api_config cfg, sink out);
  ~pod_watcher(); ///< stops and joins
  pod_watcher(const pod_watcher&) = delete;
  pod_watcher& operator=(const pod_watcher&) = delete;

  void start();
  /// Ends the loop at once (a blocked request is woken up) and joins the thread.
  void stop();

  pod_watcher_stats stats() const;

 private:
  enum class watch_end : std::uint8_t { closed, idle, gone, failed, stopped };
  void run();
  bool list();
  watch_end watch();
  /// Sleeps for the current backoff (woken by stop()) and doubles it; false when stopped.
  bool back_off();
  void fail(const std::string& what, long status);

  kube_client client_;
  sink out_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mtx_; // guards stats_ and the backoff wait
  std::condition_variable wake_;
  pod_watcher_stats stats_;
  std::string rv_; // only the loop thread touches it
  std::chrono::milliseconds backoff_;
};

/// Parses one line of a watch stream. Returns the event type text ("ADDED", ...,
/// "BOOKMARK", "ERROR"), the object's resourceVersion, for ADDED/MODIFIED/DELETED the Pod,
/// and for ERROR the Status code. On failure returns false and sets `error`.
struct watch_line {
  std::string type;
  std::string resource_version;
  std::optional<parsed_pod> pod;
  long code = 0;       ///< ERROR: Status.code
  std::string message; ///< ERROR: Status.message
};
bool parse_watch_line(std::string_view line, watch_line& out, std::string& error);

} // namespace fa::labels
