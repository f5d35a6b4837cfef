#include "app/pipeline.hpp"

#include "actors/label_cache.hpp"
#include "actors/template_registry.hpp"
#include "app/destinations.hpp"
#include "ipfix/message.hpp"
#include "monitoring/log.hpp"

#include <algorithm>
#include <thread>

namespace fa::app {

using monitoring::log;
using monitoring::log_level;

pipeline::pipeline(caf::actor_system& sys, asio::io_context& io, monitoring::metrics& metrics,
                   messages::byte_budget_ptr output_budget)
    : system_(sys)
    , io_(io)
    , metrics_(metrics)
    , output_budget_(std::move(output_budget))
    , table_(std::make_shared<actors::output_template_table>()) {
  table_->count_in(&metrics_.templates_out());
}

std::optional<std::string> pipeline::start_destinations(const config::config& cfg) {
  for (auto& d : cfg.destinations) {
    auto made = spawn_destination(system_, cfg, d, io_, metrics_);
    if (auto* err = std::get_if<std::string>(&made))
      return *err;
    std::lock_guard guard{mtx_};
    destinations_.push_back(std::get<actors::destination_actor>(made));
    destination_names_.push_back(d.name);
  }
  return std::nullopt;
}

std::optional<std::string> pipeline::start(const config::config& cfg) {
  auto& sys = system_;
  if (auto err = start_destinations(cfg))
    return err;
  // The same derivation a reload uses: set bodies sized for the smallest IPFIX
  // destination, the [enrichment] options, the fanout.
  auto ec = enricher_setup(cfg, destinations());
  enrichment_ = ec.enrichment;
  // mode = "aggregate": the enrichers' destinations are the shards (DESIGN 9).
  if (cfg.mode == config::run_mode::aggregate)
    start_aggregators(cfg, ec);
  registry_ = sys.spawn(actors::template_registry, table_);
  auto made = spawn_label_cache(cfg);
  if (auto* err = std::get_if<std::string>(&made))
    return *err;
  auto labels = std::get<actors::label_cache_actor>(made);
  {
    std::lock_guard guard{mtx_};
    labels_ = labels;
  }
  auto hw = std::max(1u, std::thread::hardware_concurrency());
  auto n = config::resolved_enrichers(cfg.runtime, hw);
  for (std::uint32_t i = 0; i < std::max(1u, n); ++i) {
    auto e = sys.spawn(actors::enricher, ec);
    caf::anon_send(labels, caf::subscribe_atom_v, e);
    enrichers_.push_back(e);
  }
  return std::nullopt;
}

std::variant<actors::label_cache_actor, std::string>
pipeline::spawn_label_cache(const config::config& cfg) {
  auto& sys = system_;
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
pipeline::enricher_setup(const config::config& cfg,
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
  for (const auto& d : cfg.destinations) {
    ec.destination_blocks.push_back(d.on_full == config::on_full_policy::block);
    // Every destination but IPFIX reads the records' fields: the enricher hands it where
    // the variable-length values lie. With fanout all the payload is shared, so one such
    // destination is enough.
    ec.record_varlen = ec.record_varlen || !d.url.is_ipfix();
  }
  if (cfg.fanout.mode != config::fanout_mode::all) {
    ec.fanout = cfg.fanout.mode == config::fanout_mode::hash ? actors::fanout_mode::hash
                                                             : actors::fanout_mode::flow;
    ec.failover = cfg.fanout.failover;
    for (const auto& d : cfg.destinations)
      ec.destination_names.push_back(d.name);
  }
  return ec;
}

std::vector<actors::destination_actor> pipeline::destinations() const {
  std::lock_guard guard{mtx_};
  return destinations_;
}

actors::label_cache_actor pipeline::labels() const {
  std::lock_guard guard{mtx_};
  return labels_;
}

std::vector<pipeline::named_actor> pipeline::named_actors() const {
  std::vector<named_actor> out;
  auto add = [&](const auto& h, std::string name, const char* role) {
    if (h)
      out.push_back({caf::actor_cast<caf::actor>(h), std::move(name), role});
  };
  add(registry_, "template_registry", "registry");
  std::lock_guard guard{mtx_};
  add(labels_, "label_cache", "label_cache");
  for (std::size_t i = 0; i < enrichers_.size(); ++i)
    add(enrichers_[i], "enricher-" + std::to_string(i), "enricher");
  for (std::size_t i = 0; i < aggregators_.size(); ++i)
    add(aggregators_[i], "aggregator-" + std::to_string(i), "aggregator");
  for (std::size_t i = 0; i < destinations_.size(); ++i)
    add(destinations_[i], "destination:" + destination_names_[i], "destination");
  return out;
}

std::uint64_t pipeline::drain(caf::scoped_actor& self, std::chrono::milliseconds drain_timeout,
                              std::chrono::steady_clock::time_point deadline) {
  // A request behind the sessions' last batches: when an enricher answers, it has
  // forwarded everything to the destinations.
  for (auto& e : enrichers_)
    self->request(e, drain_timeout + std::chrono::milliseconds{1}, caf::get_atom_v)
        .receive([](messages::enricher_status&) {}, [](caf::error&) {});
  // mode = "aggregate": every flow leaves the shards for the destinations.
  drain_aggregators(deadline);
  // The destinations drain.
  std::uint64_t left = 0;
  for (auto& d : destinations()) {
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    self->request(d, std::max(remaining, std::chrono::milliseconds{1}), actors::drain_atom_v)
        .receive([](bool) {}, [](caf::error&) {});
    self->request(d, std::chrono::seconds{1}, caf::get_atom_v)
        .receive(
            [&](messages::destination_status& s) {
              if (s.queued_bytes > 0) {
                log(log_level::warn, "destination not drained",
                    {{"destination", s.name}, {"queued_bytes", std::to_string(s.queued_bytes)}});
                left += s.queued_bytes;
              }
            },
            [](caf::error&) {});
  }
  return left;
}

void pipeline::stop_all(caf::scoped_actor& self) {
  auto kill = [&](auto& h) {
    if (h)
      self->send_exit(h, caf::exit_reason::user_shutdown);
  };
  for (auto& e : enrichers_)
    kill(e);
  for (auto& a : aggregators_)
    kill(a);
  std::lock_guard guard{mtx_};
  for (auto& d : destinations_)
    kill(d);
  kill(registry_);
  kill(labels_);
}

void pipeline::forget_all() {
  enrichers_.clear();
  aggregators_.clear();
  registry_ = nullptr;
  std::lock_guard guard{mtx_};
  destinations_.clear();
  destination_names_.clear();
  labels_ = nullptr;
}

} // namespace fa::app
