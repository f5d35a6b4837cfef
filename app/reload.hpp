#pragma once

// Config reload (issue 5, Lifecycle): which keys a running process applies live and which
// wait for a restart, and how a changed config file is noticed.

#include "config/config.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fa::app {

class supervisor;

/// Loads `path` with the very code of `check-config` (config::load_file) and applies it
/// with `supervisor::reload`; `trigger` ("SIGHUP", "file_change") is logged. Counted in
/// flow_aggregator_config_reloads_total{result="success"|"failure"}; a success also sets
/// flow_aggregator_config_last_reload_success_timestamp_seconds. An invalid file logs
/// each error with the text check-config prints, and the running config stays.
bool reload_file(supervisor& sup, const std::string& path, std::string_view trigger);

/// The keys, as paths ("collector.listen", "destination[1].url", "runtime.log_level"),
/// whose values differ between `a` and `b`. Compared in the rendered TOML of
/// `config::render_effective`, so every key of the schema is covered, new ones included.
std::vector<std::string> changed_keys(const config::config& a, const config::config& b);

/// What the process runs after reloading `next` while running `running`: the keys that
/// apply live come from `next`, every other key keeps its running value (a key that is
/// not known to apply live needs a restart, so a new key is safe by default).
///
/// Live: `[[destination]]` (added, removed, changed), `fanout.mode`, `[enrichment]`,
/// `[labels]`, `[kubernetes]`, `aggregate.active_timeout`, `inactive_timeout`,
/// `uncorrelated`, `runtime.log_level`, `runtime.log_format`,
/// `runtime.shutdown_timeout`. Restart: `mode` (another data path), `aggregate.max_flows`
/// and `shards` (the size and pinning of the flow tables), `cluster_id` (the
/// export ODID of open destination sessions), `[collector]` (bound sockets and limits
/// read by the I/O threads of open sessions; the `tls://` files themselves are re-read
/// on every reload), `[admin]` (the server answering this very reload's status), and
/// `runtime.workers`, `io_threads`, `enrichers` (thread pools and session pinning).
config::config live_part(const config::config& running, const config::config& next);

/// Notices a changed config file by polling its identity: device, inode, size and
/// modification time of what the path resolves to (`stat` follows symbolic links, so a
/// Kubernetes ConfigMap update, which swaps the `..data` symlink to a new directory, is
/// a new inode). One `stat` per poll; no read unless the identity changed.
class config_file_watch {
 public:
  explicit config_file_watch(std::string path);
  /// Called about once a second: true when the file's identity differs from the one
  /// last reported (or seen at construction) and two calls in a row saw the new one. A
  /// missing file is an identity of its own: its return is a change again.
  bool changed();
  /// Takes the file as it is now as reported (after a reload for another reason).
  void settle();
  const std::string& path() const { return path_; }

 private:
  struct identity {
    bool exists = false;
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    std::int64_t size = 0;
    std::int64_t mtime_sec = 0;
    std::int64_t mtime_nsec = 0;
    bool operator==(const identity&) const = default;
  };
  identity read() const;

  std::string path_;
  identity last_; ///< reported
  identity seen_; ///< seen by the previous call
};

} // namespace fa::app
