#include "app/supervisor.hpp"
#include "app/scheduler_settings.hpp"

#include "app/admin_api.hpp"
#include "app/listeners.hpp"
#include "app/open_files.hpp"

#include "base/unix_time.hpp"
#include "monitoring/log.hpp"

#include <thread>

namespace fa::app {

using monitoring::log;
using monitoring::log_level;

supervisor::supervisor(config::config cfg)
    : cfg_(std::move(cfg)) {
  auto hw = std::max(1u, std::thread::hardware_concurrency());
  caf_cfg_.add_message_types<caf::id_block::fa>();
  apply_scheduler_settings(caf_cfg_, cfg_.runtime, hw);
  caf_cfg_.set("logger.console", caf::atom("none"));
  caf_cfg_.set("logger.verbosity", caf::atom("quiet"));
  system_ = std::make_unique<caf::actor_system>(caf_cfg_);
  sessions_ = std::make_unique<session_registry>(*system_, cfg_.collector, metrics_);
  // The aggregators' exports are charged to the receive budget too (DESIGN 3).
  pipeline_ =
      std::make_unique<pipeline>(*system_, io_.context(), metrics_, sessions_->receive_budget());
}

supervisor::~supervisor() {
  stop(std::chrono::milliseconds{0});
}

std::optional<std::string> supervisor::start() {
  io_.start(cfg_.runtime.io_threads);
  if (auto err = pipeline_->start(cfg_))
    return err;
  sessions_->connect(pipeline_->enrichers(), pipeline_->table(), pipeline_->enrichment());
  if (cfg_.admin.listen) {
    admin_server_options ao;
    ao.listen = config::to_string(*cfg_.admin.listen);
    ao.tls_cert = cfg_.admin.tls_cert;
    ao.tls_key = cfg_.admin.tls_key;
    ao.on_closed = admin_connection_events(*this);
    if (!cfg_.admin.token_file.empty()) {
      if (auto err = read_token_file(cfg_.admin.token_file, ao.token))
        return "admin.token_file " + cfg_.admin.token_file + ": " + *err;
    }
    try {
      admin_ = std::make_unique<admin_server>(std::move(ao), admin_routes(*this));
    } catch (const std::exception& e) {
      return "admin listen " + config::to_string(*cfg_.admin.listen) + ": " + e.what();
    }
  }
  const acceptor_context acceptors{*sessions_, io_.context(), metrics_, tls_server_};
  for (auto& ep : cfg_.collector.listen) {
    std::variant<net::listener_ptr, std::string> made;
    try {
      made = start_listener(acceptors, ep);
    } catch (const std::system_error& e) {
      return "listener " + config::to_string(ep) + ": " + e.what();
    }
    if (auto* err = std::get_if<std::string>(&made))
      return "listener " + config::to_string(ep) + ": " + *err;
    listeners_.push_back(std::get<net::listener_ptr>(made));
    log(log_level::info, "listening",
        {{"transport", std::string{config::to_string(ep.transport)}},
         {"address", listeners_.back()->address().to_string()},
         {"port", std::to_string(listeners_.back()->port())}});
  }
  listening_ = true;
  // The reload series exist from the start (0), so a rate over them is defined.
  metrics_.config_reloads("success");
  metrics_.config_reloads("failure");
  metrics_.config_last_reload_success().Set(static_cast<double>(base::unix_seconds()));
  return std::nullopt;
}

std::vector<std::uint16_t> supervisor::listen_ports() const {
  std::vector<std::uint16_t> out;
  for (auto& l : listeners_)
    out.push_back(l->port());
  return out;
}

std::uint16_t supervisor::admin_port() const {
  return admin_ ? admin_->port() : 0;
}

config::config supervisor::effective_config() const {
  std::lock_guard guard{cfg_mtx_};
  return cfg_;
}

std::uint64_t supervisor::stop(std::chrono::milliseconds drain_timeout) {
  if (stopped_)
    return 0;
  stopped_ = true;
  listening_ = false;
  // 1. No new sessions.
  for (auto& l : listeners_)
    l->stop();
  // 2. Close every session; each reads no more and quits after what it already has.
  sessions_->close_all("shutdown");
  auto deadline = std::chrono::steady_clock::now() + drain_timeout;
  while (sessions_->open_sessions() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  std::uint64_t left = 0;
  {
    caf::scoped_actor self{*system_};
    // 3.-5. The enrichers forward what they hold, the shards export every flow
    // (mode = "aggregate"), the destinations drain.
    left = pipeline_->drain(self, drain_timeout, deadline);
    // 6. Stop every actor.
    sessions_->stop_all(self);
    pipeline_->stop_all(self);
  }
  // The admin handlers read the handles below: stop serving before they are cleared.
  admin_.reset();
  pipeline_->forget_all();
  sessions_->forget_all();
  system_->await_all_actors_done();
  // 7. Threads last: actors may have posted work to the io_context until now.
  io_.drain(std::chrono::seconds{2});
  listeners_.clear();
  return left;
}

} // namespace fa::app
