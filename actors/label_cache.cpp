#include "actors/label_cache.hpp"

#include "actors/actor_stats.hpp"
#include "base/unix_time.hpp"
#include "labels/pod_json.hpp"
#include "labels/pod_watcher.hpp"
#include "monitoring/log.hpp"

#include <fstream>
#include <sstream>

namespace fa::actors {

label_cache_state::~label_cache_state() {
  // Joins the thread; a blocked request is woken at once (kube_client::stop).
  watcher.reset();
}

namespace {

using state_ptr = label_cache_actor::stateful_pointer<label_cache_state>;
using source_kind = label_cache_config::source_kind;
using monitoring::log;
using monitoring::log_level;

std::string_view source_name(source_kind k) {
  switch (k) {
  case source_kind::file:
    return "file";
  case source_kind::kubernetes:
    return "kubernetes";
  default:
    return "none";
  }
}

void publish(state_ptr self) {
  auto& st = self->state;
  auto snap = st.index.snapshot();
  if (snap == st.current)
    return;
  st.current = std::move(snap);
  ++st.snapshots;
  for (auto& e : st.subscribers)
    self->send(e, messages::label_snapshot{st.current});
}

/// One snapshot per run of events: the first event arms a timer, the rest ride along.
void publish_soon(state_ptr self) {
  auto& st = self->state;
  if (st.publish_pending)
    return;
  st.publish_pending = true;
  self->delayed_send(self, st.cfg.debounce, caf::publish_atom_v);
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
  auto now = base::unix_seconds();
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
  st.last_sync = st.last_change = now;
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

/// Applies a LIST page or WATCH events (labels::pod_update_applier has the rules) and
/// publishes: at once after the first full list (ready means the enrichers hold it),
/// debounced after that.
void apply(state_ptr self, labels::pod_update& u) {
  auto& st = self->state;
  auto now = base::unix_seconds();
  auto r = st.applier.apply(st.index, u, now);
  if (!u.events.empty())
    st.last_change = now;
  if (r.list_completed) {
    st.last_sync = now;
    bool first = !st.synced;
    st.synced = true;
    log(first ? log_level::info : log_level::debug, "kubernetes Pods listed",
        {{"pods", std::to_string(st.index.size())},
         {"ips", std::to_string(st.index.num_ips())},
         {"deleted_while_unwatched", std::to_string(r.deleted_unlisted)},
         {"resource_version", u.resource_version}});
    if (first) {
      publish(self);
      return;
    }
  }
  // Before the first full list nothing is published: every page would copy every shard
  // again, and a partial index is not what "ready" promises.
  if (st.synced)
    publish_soon(self);
}

messages::label_status status(state_ptr self, const std::string& ip);

/// The label cache's metrics, from the same numbers as its status: once per tick and per
/// published snapshot, never per record.
void export_metrics(state_ptr self) {
  auto& st = self->state;
  if (!st.cfg.metrics)
    return;
  auto s = status(self, "");
  monitoring::label_cache_values v;
  v.ready = s.ready;
  v.pods = s.pods;
  v.ips = s.ips;
  v.last_sync = s.last_sync;
  v.lists = s.lists;
  v.relists_gone = s.relists_gone;
  v.watch_restarts = s.watch_restarts;
  v.idle_restarts = s.idle_restarts;
  v.watch_events = s.watch_events;
  v.errors = s.errors;
  v.bad_objects = s.bad_objects;
  v.reloads = s.reloads;
  v.rejected_reloads = s.rejected_reloads;
  v.snapshots = s.snapshots;
  v.expired = s.expired;
  st.cfg.metrics->label_cache().update(v);
}

messages::label_status status(state_ptr self, const std::string& ip) {
  auto& st = self->state;
  messages::label_status s;
  s.source = std::string{source_name(st.cfg.source)};
  s.synced = st.synced;
  switch (st.cfg.source) {
  case source_kind::none:
    s.ready = true;
    break;
  case source_kind::file:
    s.ready = st.reloads > 0;
    break;
  case source_kind::kubernetes:
    s.ready = st.synced;
    break;
  }
  s.pods = st.index.size();
  s.ips = st.index.num_ips();
  s.last_sync = st.last_sync;
  s.last_change = st.last_change;
  s.reloads = st.reloads;
  s.rejected_reloads = st.rejected_reloads;
  s.invalid_ips = st.index.num_invalid_ips();
  s.snapshots = st.snapshots;
  s.shard_copies = st.index.num_shard_copies();
  s.expired = st.expired;
  if (st.watcher) {
    auto w = st.watcher->stats();
    s.resource_version = w.resource_version;
    s.lists = w.lists;
    s.relists_gone = w.gone;
    s.watch_restarts = w.watch_restarts;
    s.idle_restarts = w.idle_restarts;
    s.watch_events = w.events;
    s.bookmarks = w.bookmarks;
    s.errors = w.errors;
    s.unauthorized = w.unauthorized;
    s.bad_objects = w.bad_objects;
    s.last_error = w.last_error;
  }
  if (!ip.empty()) {
    s.lookup_ip = ip;
    if (auto key = labels::parse_ip(ip)) {
      // The published snapshot: what the enrichers resolve records with.
      const auto& snap = st.current;
      const auto* match = snap->lookup(*key, base::unix_seconds());
      if (const auto* c = snap->find(*key))
        for (const auto& p : *c)
          s.lookup.push_back({p->name, p->pod_namespace, p->node_name, p->labels_json, p->creation,
                              p->deletion.value_or(0), p.get() == match});
    }
  }
  return s;
}

} // namespace

label_cache_actor::behavior_type
label_cache(label_cache_actor::stateful_pointer<label_cache_state> self, label_cache_config cfg) {
  auto& st = self->state;
  st.index = labels::pod_index{static_cast<std::int64_t>(cfg.retention.count())};
  st.current = st.index.snapshot();
  st.cfg = std::move(cfg);
  if (st.cfg.source == source_kind::file)
    check_file(self);
  if (st.cfg.source == source_kind::kubernetes) {
    // The thread holds only a weak reference: it never keeps the actor alive.
    auto addr = caf::actor_cast<caf::weak_actor_ptr>(self);
    st.watcher = std::make_unique<labels::pod_watcher>(st.cfg.api, [addr](labels::pod_update u) {
      if (auto strong = caf::actor_cast<caf::strong_actor_ptr>(addr))
        caf::anon_send(caf::actor_cast<label_cache_actor>(strong),
                       messages::pod_updates{std::make_shared<labels::pod_update>(std::move(u))});
    });
    st.watcher->start();
    log(log_level::info, "kubernetes Pod source started", {{"api_server", st.cfg.api.server}});
  }
  if (st.cfg.source != source_kind::none)
    self->delayed_send(self, st.cfg.poll, caf::tick_atom_v);
  export_metrics(self);
  return counted_behavior{
      self,
      [=](caf::subscribe_atom, enricher_actor e) {
        self->send(e, messages::label_snapshot{self->state.current});
        self->state.subscribers.push_back(std::move(e));
      },
      [=](messages::pod_updates& msg) {
        if (msg.update)
          apply(self, *msg.update);
      },
      [=](caf::publish_atom) {
        self->state.publish_pending = false;
        publish(self);
        export_metrics(self);
      },
      [=](caf::tick_atom) {
        auto& st = self->state;
        if (st.cfg.source == source_kind::file)
          check_file(self);
        if (auto n = st.index.expire(base::unix_seconds()); n > 0) {
          st.expired += n;
          publish(self);
        }
        export_metrics(self);
        self->delayed_send(self, st.cfg.poll, caf::tick_atom_v);
      },
      [=](caf::get_atom) { return static_cast<std::uint64_t>(self->state.current->num_ips()); },
      [=](caf::get_atom, const std::string& ip) { return status(self, ip); },
  };
}

} // namespace fa::actors
