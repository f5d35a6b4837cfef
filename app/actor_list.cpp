// supervisor::actors: the ACTORS view (issue 5). Every actor is asked for its own stats;
// the supervisor adds the name and role it gave it.

#include "app/supervisor.hpp"

namespace fa::app {

std::vector<actor_row> supervisor::actors(std::chrono::milliseconds timeout) {
  std::vector<actor_row> rows;
  caf::scoped_actor self{*system_};
  // High priority: the request overtakes the batches queued before it, so a busy actor
  // answers after its current message, and the mailbox it reports is the queue behind.
  // CAF 0.17.6's request overload for std::chrono durations drops the priority argument,
  // hence caf::duration.
  const caf::duration wait{timeout};
  auto request = [&](const auto& h) {
    return self->request<caf::message_priority::high>(h, wait, caf::get_atom_v,
                                                      actors::stats_atom_v);
  };
  // Every interface answers (get, stats) with actor_stats: the handles share one type.
  std::vector<decltype(request(registry_))> pending;
  auto ask = [&](const auto& h, std::string name, const char* role) {
    if (!h)
      return;
    auto& row = rows.emplace_back();
    row.name = std::move(name);
    row.role = role;
    row.id = h.id();
    pending.push_back(request(h));
  };
  {
    // All requests leave before any answer is awaited: the wait is one timeout in all,
    // however many actors are stuck.
    std::lock_guard live{live_mtx_};
    ask(registry_, "template_registry", "registry");
    ask(labels_, "label_cache", "label_cache");
    for (std::size_t i = 0; i < enrichers_.size(); ++i)
      ask(enrichers_[i], "enricher-" + std::to_string(i), "enricher");
    for (std::size_t i = 0; i < aggregators_.size(); ++i)
      ask(aggregators_[i], "aggregator-" + std::to_string(i), "aggregator");
    for (std::size_t i = 0; i < destinations_.size(); ++i)
      ask(destinations_[i],
          "destination:" +
              (i < cfg_.destinations.size() ? cfg_.destinations[i].name : std::to_string(i)),
          "destination");
    std::lock_guard guard{sessions_mtx_};
    for (const auto& [_, e] : sessions_)
      ask(e.actor, "agent_session:" + e.peer, "agent_session");
  }
  for (std::size_t i = 0; i < pending.size(); ++i)
    pending[i].receive(
        [&](messages::actor_stats& s) {
          rows[i].answered = true;
          rows[i].stats = std::move(s);
        },
        [&](caf::error& err) { rows[i].error = system_->render(err); });
  return rows;
}

} // namespace fa::app
