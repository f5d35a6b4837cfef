// Config reload (issue 5, Lifecycle): the supervisor applies a new config to the running
// actors without dropping exporter sessions. What applies live and what waits for a
// restart is decided in app/reload.cpp.

#include "app/supervisor.hpp"

#include "actors/label_cache.hpp"
#include "app/destinations.hpp"
#include "app/reload.hpp"
#include "ipfix/message.hpp"
#include "monitoring/log.hpp"

#include <algorithm>

namespace fa::app {

using monitoring::log;
using monitoring::log_level;

namespace {

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs) {
    if (!out.empty())
      out += ',';
    out += x;
  }
  return out;
}

/// Long enough for an enricher to work through a full mailbox of batches; it is only
/// reached when an enricher is stuck, and then the reload goes on and says so.
constexpr std::chrono::seconds enricher_ack_timeout{30};

} // namespace

std::variant<actors::label_cache_actor, std::string>
supervisor::spawn_label_cache(const config::config& cfg) {
  auto& sys = *system_;
  actors::label_cache_config lc;
  lc.metrics = &metrics_;
  lc.retention = std::chrono::duration_cast<std::chrono::seconds>(cfg.labels.deleted_pod_retention);
  if (cfg.labels.source == config::label_source::file) {
    lc.source = actors::label_cache_config::source_kind::file;
    lc.file = cfg.labels.file;
    // It reads files: detached, like at start (DESIGN 4).
    return sys.spawn<caf::detached>(actors::label_cache, lc);
  }
  if (cfg.labels.source == config::label_source::kubernetes) {
    // In-cluster defaults are resolved here, so that a missing API server fails the start
    // or the reload. The list + watch then runs on its own thread: the actor never blocks.
    const auto& k = cfg.kubernetes;
    auto api = labels::resolve_kube_api(
        {k.api_server, k.token_file, k.ca_file, k.client_cert, k.client_key},
        [](const char* name) -> const char* { return std::getenv(name); });
    if (auto* err = std::get_if<std::string>(&api))
      return *err;
    lc.source = actors::label_cache_config::source_kind::kubernetes;
    lc.api = std::get<labels::kube_api_config>(api);
    lc.api.watch_idle_timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(k.watch_idle_timeout);
    return sys.spawn(actors::label_cache, lc);
  }
  return sys.spawn(actors::label_cache, lc);
}

actors::enricher_config
supervisor::enricher_setup(const config::config& cfg,
                           const std::vector<actors::destination_actor>& handles) {
  // Every set must fit the smallest IPFIX destination's message whole (as at start).
  std::size_t max_set_body = ipfix::max_message_size - 20;
  for (const auto& d : cfg.destinations)
    if (d.url.is_ipfix())
      max_set_body =
          std::min<std::size_t>(max_set_body, config::effective_max_message_size(d) - 20);
  actors::enrichment_options eo;
  eo.provenance = cfg.enrichment.provenance;
  eo.antrea = cfg.enrichment.antrea;
  eo.pod_labels = cfg.enrichment.pod_labels;
  eo.fill_k8s_names = cfg.enrichment.fill_k8s_names;
  eo.labels_for_foreign_records = cfg.enrichment.labels_for_foreign_records;
  eo.cluster_id = cfg.cluster_id;
  actors::enricher_config ec{handles, eo, max_set_body, &metrics_};
  for (const auto& d : cfg.destinations)
    ec.destination_blocks.push_back(d.on_full == config::on_full_policy::block);
  if (cfg.fanout.mode != config::fanout_mode::all) {
    ec.fanout = cfg.fanout.mode == config::fanout_mode::hash ? actors::fanout_mode::hash
                                                             : actors::fanout_mode::flow;
    ec.failover = cfg.fanout.failover;
    for (const auto& d : cfg.destinations)
      ec.destination_names.push_back(d.name);
  }
  return ec;
}

std::uint64_t supervisor::retire_destination(const actors::destination_actor& d,
                                             const std::string& name,
                                             std::chrono::milliseconds timeout) {
  caf::scoped_actor self{*system_};
  bool drained = false;
  self->request(d, std::max(timeout, std::chrono::milliseconds{1}), actors::drain_atom_v)
      .receive([&](bool) { drained = true; }, [](caf::error&) {});
  std::uint64_t left = 0;
  if (!drained)
    self->request(d, std::chrono::seconds{1}, caf::get_atom_v)
        .receive([&](messages::destination_status& s) { left = s.queued_records; },
                 [](caf::error&) {});
  if (left > 0) {
    // Its collector did not take them within the bound: dropped, and counted as such.
    metrics_.records_dropped(name, "removed").Increment(static_cast<double>(left));
    log(log_level::warn, "removed destination not drained",
        {{"destination", name}, {"dropped_records", std::to_string(left)}});
  }
  self->send_exit(d, caf::exit_reason::user_shutdown);
  return left;
}

supervisor::reload_outcome supervisor::reload(const config::config& next) {
  reload_outcome out;
  if (stopped_) {
    out.error = "stopping";
    return out;
  }
  auto& sys = *system_;
  const auto running = effective_config();
  // The mode is another data path (DESIGN.md 9): half a reload onto it would leave flows
  // of one mode in the actors of the other, so the whole reload is refused.
  if (next.mode != running.mode) {
    out.error = "mode cannot change on reload (running \"" +
                std::string{config::to_string(running.mode)} + "\", the file says \"" +
                std::string{config::to_string(next.mode)} +
                "\"): restart flow-aggregator to change it; nothing was applied";
    return out;
  }
  const auto target = live_part(running, next);
  out.restart_required = changed_keys(target, next);
  out.applied = changed_keys(running, target);

  // 1. What can fail comes first, so that a failure changes nothing: destinations that
  // are new or changed (a changed one is a new one under the same name: remove + add)
  // and a label cache for a changed source.
  std::vector<actors::destination_actor> handles;
  std::vector<actors::destination_actor> spawned;
  std::vector<std::pair<actors::destination_actor, std::string>> retired;
  auto fail = [&](std::string err) {
    for (auto& d : spawned)
      caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
    out.error = std::move(err);
    return out;
  };
  for (const auto& d : target.destinations) {
    auto same = std::find_if(running.destinations.begin(), running.destinations.end(),
                             [&](const auto& r) { return r.name == d.name; });
    if (same != running.destinations.end() && *same == d) {
      handles.push_back(
          destinations_[static_cast<std::size_t>(same - running.destinations.begin())]);
      continue;
    }
    auto made = spawn_destination(sys, target, d, io_.context(), metrics_);
    if (auto* err = std::get_if<std::string>(&made))
      return fail(*err);
    handles.push_back(std::get<actors::destination_actor>(made));
    spawned.push_back(handles.back());
  }
  for (std::size_t i = 0; i < running.destinations.size(); ++i)
    if (std::find(handles.begin(), handles.end(), destinations_[i]) == handles.end())
      retired.emplace_back(destinations_[i], running.destinations[i].name);
  const bool labels_changed =
      target.labels != running.labels || target.kubernetes != running.kubernetes;
  actors::label_cache_actor new_labels;
  if (labels_changed) {
    auto made = spawn_label_cache(target);
    if (auto* err = std::get_if<std::string>(&made))
      return fail("labels: " + *err);
    new_labels = std::get<actors::label_cache_actor>(made);
  }

  // 2. The enrichers switch to the new destination list and options. Each answers a
  // request sent after the update, so once all have answered no batch goes to a retired
  // destination any more: its queue is final and can be drained.
  const bool routing_changed = !spawned.empty() || !retired.empty() ||
                               target.fanout != running.fanout ||
                               target.enrichment != running.enrichment;
  auto ec = enricher_setup(target, handles);
  // mode = "aggregate": the shards take the new routes and timeouts, and the enrichers
  // keep sending to the shards.
  if (!aggregators_.empty()) {
    if (routing_changed || target.aggregate != running.aggregate)
      reconfigure_aggregators(target, ec);
    else
      route_to_shards(ec);
  }
  if (routing_changed) {
    auto shared = std::make_shared<const actors::enricher_config>(ec);
    caf::scoped_actor self{sys};
    for (auto& e : enrichers_)
      self->send(e, messages::enricher_reconfig{shared});
    for (auto& e : enrichers_)
      self->request(e, enricher_ack_timeout, caf::get_atom_v)
          .receive([](messages::enricher_status&) {},
                   [&](caf::error& err) {
                     log(log_level::warn, "enricher did not confirm the reload",
                         {{"error", sys.render(err)}});
                   });
  }

  // 3. The new state becomes the effective one.
  std::vector<actors::agent_session_actor> sessions;
  actors::label_cache_actor old_labels;
  {
    std::lock_guard guard{live_mtx_};
    destinations_ = handles;
    cfg_ = live_part(cfg_, target);
    if (target.enrichment != running.enrichment) {
      // Sessions opened from here on start with the new options (open_session reads them
      // under this lock); those open now are told below.
      enrichment_ = ec.enrichment;
      std::lock_guard s{sessions_mtx_};
      for (auto& [_, e] : sessions_)
        sessions.push_back(e.actor);
    }
    if (labels_changed) {
      old_labels = labels_;
      labels_ = new_labels;
    }
  }

  // 4. Open sessions plan their templates again: their next records have the new layout
  // under new output template ids, announced by each destination before first use
  // (RFC 7011 8), with no session restarted.
  if (!sessions.empty()) {
    auto options = std::make_shared<const actors::enrichment_options>(ec.enrichment);
    for (auto& s : sessions)
      caf::anon_send(s, messages::enrichment_update{options});
  }

  // 5. Retired destinations drain like on shutdown, within runtime.shutdown_timeout.
  auto bound =
      std::chrono::duration_cast<std::chrono::milliseconds>(target.runtime.shutdown_timeout);
  for (auto& r : retired) {
    const auto& name = r.second;
    retire_destination(r.first, name, bound);
    // A name that is gone (not replaced) has no connection and no queue any more.
    bool replaced = std::any_of(target.destinations.begin(), target.destinations.end(),
                                [&](const auto& x) { return x.name == name; });
    if (!replaced) {
      auto m = metrics_.destination(name);
      m.up->Set(0);
      m.queue_bytes->Set(0);
    }
  }

  // 6. A changed label source: the old cache ends first, so that any snapshot it sent is
  // ahead of the new cache's in every enricher's mailbox; the new one then sends its
  // current snapshot to each enricher (empty until it has read its source: readiness
  // follows the new source).
  if (labels_changed) {
    caf::scoped_actor self{sys};
    if (old_labels) {
      self->monitor(old_labels);
      self->send_exit(old_labels, caf::exit_reason::user_shutdown);
      self->receive([](caf::down_msg&) {},
                    caf::after(std::chrono::seconds{10}) >>
                        [] { log(log_level::warn, "old label cache did not stop in time"); });
    }
    for (auto& e : enrichers_)
      self->send(new_labels, caf::subscribe_atom_v, e);
  }

  // 7. Logging applies at once.
  monitoring::set_log_level(static_cast<monitoring::log_level>(target.runtime.log_level));
  monitoring::set_log_format(target.runtime.log_format == config::log_format::json
                                 ? monitoring::log_format::json
                                 : monitoring::log_format::text);

  // 8. Keys waiting for a restart: a gauge per key, back to 0 once the file agrees with
  // the running value again.
  for (const auto& k : restart_pending_)
    if (std::find(out.restart_required.begin(), out.restart_required.end(), k) ==
        out.restart_required.end())
      metrics_.config_restart_required(k).Set(0);
  for (const auto& k : out.restart_required)
    metrics_.config_restart_required(k).Set(1);
  restart_pending_ = out.restart_required;
  if (!out.restart_required.empty())
    log(log_level::warn, "restart needed",
        {{"keys", join(out.restart_required)},
         {"detail", "these keys keep their running value until flow-aggregator restarts"}});
  log(log_level::info, "config reloaded",
      {{"applied", join(out.applied)},
       {"destinations_added", std::to_string(spawned.size())},
       {"destinations_removed", std::to_string(retired.size())}});
  return out;
}

} // namespace fa::app
