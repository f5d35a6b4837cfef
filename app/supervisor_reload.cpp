// Config reload (issue 5, Lifecycle): the supervisor applies a new config to the running
// actors without dropping exporter sessions, as one transaction over the pipeline
// (app/pipeline_reload.cpp) and the session registry: what can fail first, then the
// switch. What applies live and what waits for a restart is decided in app/reload.cpp.
// SIGHUP also re-reads the tls:// listeners' files (reload_tls).

#include "app/supervisor.hpp"

#include "app/reload.hpp"
#include "monitoring/log.hpp"
#include "net/tls_context.hpp"

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

} // namespace

supervisor::reload_outcome supervisor::reload(const config::config& next) {
  reload_outcome out;
  if (stopped_) {
    out.error = "stopping";
    return out;
  }
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
  // are new or changed and a label cache for a changed source.
  auto prepared = pipeline_->prepare(running, target);
  if (auto* err = std::get_if<std::string>(&prepared)) {
    out.error = std::move(*err);
    return out;
  }
  auto& change = std::get<pipeline::change>(prepared);

  // 2. The enrichers (and the shards) switch to the new destination list, options and
  // timeouts, each confirmed: no batch goes to a retired destination any more.
  pipeline_->reroute(change, running, target);

  // 3. The new state becomes the effective one. Sessions opened from here on start with
  // new options; those open now are told below.
  pipeline_->commit(change);
  {
    std::lock_guard guard{cfg_mtx_};
    cfg_ = live_part(cfg_, target);
  }
  std::vector<actors::agent_session_actor> sessions;
  if (target.enrichment != running.enrichment)
    sessions = sessions_->use_enrichment(change.routes.enrichment);

  // 4. Open sessions plan their templates again: their next records have the new layout
  // under new output template ids, announced by each destination before first use
  // (RFC 7011 8), with no session restarted.
  if (!sessions.empty()) {
    auto options = std::make_shared<const actors::enrichment_options>(change.routes.enrichment);
    for (auto& s : sessions)
      caf::anon_send(s, messages::enrichment_update{options});
  }

  // 5. Retired destinations drain like on shutdown, within runtime.shutdown_timeout.
  pipeline_->retire(change, target);

  // 6. A changed label source: the old cache ends first, then the new one serves every
  // enricher.
  pipeline_->switch_labels(change);

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
       {"destinations_added", std::to_string(change.spawned.size())},
       {"destinations_removed", std::to_string(change.retired.size())}});
  return out;
}

std::optional<std::string> supervisor::reload_tls() {
  if (!tls_server_)
    return std::nullopt;
  if (auto err = tls_server_->reload()) {
    metrics_.tls_reloads("error").Increment();
    log(log_level::error, "tls reload failed, keeping the current certificate", {{"error", *err}});
    return err;
  }
  metrics_.tls_reloads("ok").Increment();
  log(log_level::info, "tls reloaded",
      {{"cert", cfg_.collector.tls.cert}, {"client_ca", cfg_.collector.tls.client_ca}});
  return std::nullopt;
}

} // namespace fa::app
