#include "app/reload.hpp"

#include "app/cluster_identity.hpp"
#include "app/supervisor.hpp"
#include "config/load.hpp"
#include "config/render.hpp"
#include "monitoring/log.hpp"

#include <map>
#include <sstream>

#include <sys/stat.h>

namespace fa::app {

namespace {

/// "section.key" -> rendered value, from `render_effective` (one `key = value` per line,
/// `[section]` and `[[destination]]` headers, no secrets involved: paths only).
std::map<std::string, std::string> flatten(const config::config& cfg) {
  std::map<std::string, std::string> out;
  std::istringstream in{config::render_effective(cfg, false)};
  std::string line, prefix;
  int destinations = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    if (line == "[[destination]]") {
      prefix = "destination[" + std::to_string(destinations++) + "].";
      continue;
    }
    if (line.front() == '[' && line.back() == ']') {
      prefix = line.substr(1, line.size() - 2) + ".";
      continue;
    }
    auto eq = line.find(" = ");
    if (eq == std::string::npos)
      continue;
    auto value = line.substr(eq + 3);
    // A trailing comment ("# derived from cluster_id") is not part of the value.
    if (auto hash = value.find("  #"); hash != std::string::npos)
      value.resize(hash);
    out[prefix + line.substr(0, eq)] = value;
  }
  return out;
}

} // namespace

std::vector<std::string> changed_keys(const config::config& a, const config::config& b) {
  auto fa = flatten(a);
  auto fb = flatten(b);
  std::vector<std::string> out;
  for (const auto& [key, value] : fa) {
    auto i = fb.find(key);
    if (i == fb.end() || i->second != value)
      out.push_back(key);
  }
  for (const auto& [key, _] : fb)
    if (!fa.contains(key))
      out.push_back(key);
  return out;
}

config::config live_part(const config::config& running, const config::config& next) {
  auto out = running;
  out.destinations = next.destinations;
  out.fanout = next.fanout;
  out.enrichment = next.enrichment;
  out.labels = next.labels;
  out.kubernetes = next.kubernetes;
  // The shards apply new timeouts and policy to the flows they hold; max_flows and
  // shards size and pin the tables.
  out.aggregate.active_timeout = next.aggregate.active_timeout;
  out.aggregate.inactive_timeout = next.aggregate.inactive_timeout;
  out.aggregate.uncorrelated = next.aggregate.uncorrelated;
  out.aggregate.scaled_out = next.aggregate.scaled_out; // read by check-config only
  out.runtime.log_level = next.runtime.log_level;
  out.runtime.log_format = next.runtime.log_format;
  out.runtime.shutdown_timeout = next.runtime.shutdown_timeout;
  out.runtime.memory_trim_interval = next.runtime.memory_trim_interval;
  return out;
}

config_file_watch::config_file_watch(std::string path)
    : path_(std::move(path))
    , last_(read())
    , seen_(last_) {}

config_file_watch::identity config_file_watch::read() const {
  struct stat st {};
  identity id;
  if (::stat(path_.c_str(), &st) != 0)
    return id;
  id.exists = true;
  id.dev = static_cast<std::uint64_t>(st.st_dev);
  id.ino = static_cast<std::uint64_t>(st.st_ino);
  id.size = static_cast<std::int64_t>(st.st_size);
  id.mtime_sec = static_cast<std::int64_t>(st.st_mtim.tv_sec);
  id.mtime_nsec = static_cast<std::int64_t>(st.st_mtim.tv_nsec);
  return id;
}

void config_file_watch::settle() {
  last_ = seen_ = read();
}

bool config_file_watch::changed() {
  auto now = read();
  if (now == last_)
    return false;
  // A file being written in place (an editor, `cat > file`) may be caught half written:
  // a change counts once two polls in a row see the same new identity.
  if (!(now == seen_)) {
    seen_ = now;
    return false;
  }
  last_ = now;
  return true;
}

bool reload_file(supervisor& sup, const std::string& path, std::string_view trigger) {
  using monitoring::log;
  using monitoring::log_level;
  auto& m = sup.metrics();
  log(log_level::info, "config reload", {{"file", path}, {"trigger", std::string{trigger}}});
  auto loaded = config::load_file(path);
  if (!loaded) {
    // One line per error, each the very text `check-config` prints.
    for (const auto& e : loaded.errors)
      log(log_level::error, "config error", {{"error", config::to_string(e)}});
    m.config_reloads("failure").Increment();
    log(log_level::error, "config reload rejected, the running config stays",
        {{"file", path}, {"errors", std::to_string(loaded.errors.size())}});
    return false;
  }
  auto next = std::move(*loaded.cfg);
  std::string where;
  next.cluster_id = resolve_cluster_id(next.cluster_id, where);
  auto r = sup.reload(next);
  if (r.error) {
    m.config_reloads("failure").Increment();
    log(log_level::error, "config reload failed, the running config stays",
        {{"file", path}, {"error", *r.error}});
    return false;
  }
  m.config_reloads("success").Increment();
  m.config_last_reload_success().Set(
      static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count()));
  return true;
}

} // namespace fa::app
