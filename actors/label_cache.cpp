#include "actors/label_cache.hpp"

#include "labels/pod_json.hpp"
#include "monitoring/log.hpp"

#include <fstream>
#include <sstream>

namespace fa::actors {

namespace {

using state_ptr = label_cache_actor::stateful_pointer<label_cache_state>;
using monitoring::log;
using monitoring::log_level;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void publish(state_ptr self) {
  auto& st = self->state;
  auto snap = st.index.snapshot();
  if (snap == st.current)
    return;
  st.current = std::move(snap);
  for (auto& e : st.subscribers)
    self->send(e, messages::label_snapshot{st.current});
}

// The file is the whole truth: Pods it no longer lists were deleted now, and are kept for
// the retention time like any deleted Pod (antrea-proxy-semantics.md 3). A file with any
// bad object is rejected whole and the previous good index stays in force.
void reload(state_ptr self) {
  auto& st = self->state;
  std::ifstream in{st.cfg.file, std::ios::binary};
  if (!in) {
    log(log_level::warn, "labels file unreadable", {{"file", st.cfg.file}});
    ++st.rejected_reloads;
    return;
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto parsed = labels::parse_pod_file(text.str());
  if (!parsed.errors.empty()) {
    ++st.rejected_reloads;
    for (std::size_t i = 0; i < parsed.errors.size() && i < 10; ++i)
      log(log_level::warn, "labels file rejected",
          {{"file", st.cfg.file}, {"error", parsed.errors[i]}});
    return;
  }
  auto now = unix_now();
  std::set<std::string> uids;
  for (auto& p : parsed.pods) {
    st.index.upsert(p.info, now);
    if (p.deletion)
      st.index.remove(p.info.uid, now);
    uids.insert(p.info.uid);
  }
  for (auto& uid : st.file_uids)
    if (!uids.count(uid))
      st.index.remove(uid, now);
  st.file_uids = std::move(uids);
  ++st.reloads;
  log(log_level::info, "labels file loaded",
      {{"file", st.cfg.file},
       {"pods", std::to_string(st.index.size())},
       {"ips", std::to_string(st.index.num_ips())}});
  publish(self);
}

/// Re-reads the file when its size or modification time changed since the last look.
void check_file(state_ptr self) {
  auto& st = self->state;
  std::error_code ec;
  auto t = std::filesystem::last_write_time(st.cfg.file, ec);
  auto size = ec ? 0 : std::filesystem::file_size(st.cfg.file, ec);
  if (ec) {
    if (st.file_seen || st.reloads + st.rejected_reloads == 0)
      log(log_level::warn, "labels file missing", {{"file", st.cfg.file}});
    st.file_seen = false;
    return;
  }
  if (st.file_seen && t == st.file_time && size == st.file_size)
    return;
  st.file_seen = true;
  st.file_time = t;
  st.file_size = size;
  reload(self);
}

} // namespace

label_cache_actor::behavior_type
label_cache(label_cache_actor::stateful_pointer<label_cache_state> self, label_cache_config cfg) {
  auto& st = self->state;
  st.index = labels::pod_index{static_cast<std::int64_t>(cfg.retention.count())};
  st.current = st.index.snapshot();
  st.cfg = std::move(cfg);
  if (st.cfg.source == label_cache_config::source_kind::file) {
    check_file(self);
    self->delayed_send(self, st.cfg.poll, caf::tick_atom_v);
  }
  return {
      [=](caf::subscribe_atom, enricher_actor e) {
        self->send(e, messages::label_snapshot{self->state.current});
        self->state.subscribers.push_back(std::move(e));
      },
      [=](caf::tick_atom) {
        auto& st = self->state;
        check_file(self);
        if (st.index.expire(unix_now()) > 0)
          publish(self);
        self->delayed_send(self, st.cfg.poll, caf::tick_atom_v);
      },
      [=](caf::get_atom) { return static_cast<std::uint64_t>(self->state.current->num_ips()); },
  };
}

} // namespace fa::actors
