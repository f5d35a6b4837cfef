// Config reload (Lifecycle): the pipeline's steps of the transaction the supervisor
// drives (app/supervisor_reload.cpp). Exporter sessions are never dropped.

#include "app/pipeline.hpp"

#include "app/destinations.hpp"
#include "monitoring/log.hpp"

#include <algorithm>

namespace fa::app {

using monitoring::log;
using monitoring::log_level;

namespace {

/// Long enough for an enricher to work through a full mailbox of batches; it is only
/// reached when an enricher is stuck, and then the reload goes on and says so.
constexpr std::chrono::seconds enricher_ack_timeout{30};

} // namespace

std::variant<pipeline::change, std::string> pipeline::prepare(const config::config& running,
                                                              const config::config& target) {
  change c;
  const auto current = destinations();
  auto fail = [&](std::string err) {
    for (auto& d : c.spawned)
      caf::anon_send_exit(d, caf::exit_reason::user_shutdown);
    return err;
  };
  for (const auto& d : target.destinations) {
    auto same = std::find_if(running.destinations.begin(), running.destinations.end(),
                             [&](const auto& r) { return r.name == d.name; });
    c.names.push_back(d.name);
    if (same != running.destinations.end() && *same == d) {
      c.handles.push_back(current[static_cast<std::size_t>(same - running.destinations.begin())]);
      continue;
    }
    auto made = spawn_destination(system_, target, d, io_, metrics_);
    if (auto* err = std::get_if<std::string>(&made))
      return fail(*err);
    c.handles.push_back(std::get<actors::destination_actor>(made));
    c.spawned.push_back(c.handles.back());
  }
  for (std::size_t i = 0; i < running.destinations.size(); ++i)
    if (std::find(c.handles.begin(), c.handles.end(), current[i]) == c.handles.end())
      c.retired.emplace_back(current[i], running.destinations[i].name);
  c.labels_changed = target.labels != running.labels || target.kubernetes != running.kubernetes;
  if (c.labels_changed) {
    auto made = spawn_label_cache(target);
    if (auto* err = std::get_if<std::string>(&made))
      return fail("labels: " + *err);
    c.new_labels = std::get<actors::label_cache_actor>(made);
  }
  return c;
}

void pipeline::reroute(change& c, const config::config& running, const config::config& target) {
  // Each enricher answers a request sent after the update, so once all have answered no
  // batch goes to a retired destination any more: its queue is final and can be drained.
  const bool routing_changed = !c.spawned.empty() || !c.retired.empty() ||
                               target.fanout != running.fanout ||
                               target.enrichment != running.enrichment;
  c.routes = enricher_setup(target, c.handles);
  // mode = "aggregate": the shards take the new routes and timeouts, and the enrichers
  // keep sending to the shards.
  if (!aggregators_.empty()) {
    if (routing_changed || target.aggregate != running.aggregate)
      reconfigure_aggregators(target, c.routes);
    else
      route_to_shards(c.routes);
  }
  if (!routing_changed)
    return;
  auto shared = std::make_shared<const actors::enricher_config>(c.routes);
  caf::scoped_actor self{system_};
  for (auto& e : enrichers_)
    self->send(e, messages::enricher_reconfig{shared});
  for (auto& e : enrichers_)
    self->request(e, enricher_ack_timeout, caf::get_atom_v)
        .receive([](messages::enricher_status&) {},
                 [&](caf::error& err) {
                   log(log_level::warn, "enricher did not confirm the reload",
                       {{"error", system_.render(err)}});
                 });
}

void pipeline::commit(change& c) {
  std::lock_guard guard{mtx_};
  destinations_ = c.handles;
  destination_names_ = c.names;
  if (c.labels_changed) {
    c.old_labels = labels_;
    labels_ = c.new_labels;
  }
}

std::uint64_t pipeline::retire_destination(const actors::destination_actor& d,
                                           const std::string& name,
                                           std::chrono::milliseconds timeout) {
  caf::scoped_actor self{system_};
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

void pipeline::retire(const change& c, const config::config& target) {
  auto bound =
      std::chrono::duration_cast<std::chrono::milliseconds>(target.runtime.shutdown_timeout);
  for (auto& r : c.retired) {
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
}

void pipeline::switch_labels(const change& c) {
  if (!c.labels_changed)
    return;
  caf::scoped_actor self{system_};
  if (c.old_labels) {
    self->monitor(c.old_labels);
    self->send_exit(c.old_labels, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {},
                  caf::after(std::chrono::seconds{10}) >>
                      [] { log(log_level::warn, "old label cache did not stop in time"); });
  }
  for (auto& e : enrichers_)
    self->send(c.new_labels, caf::subscribe_atom_v, e);
}

} // namespace fa::app
