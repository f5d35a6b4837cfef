// The inspection facade (/api/v1 and `inspect`): the supervisor asks the actors of the
// session registry and the pipeline for their status; each answers for itself.

#include "app/supervisor.hpp"

namespace fa::app {

namespace {

template <class Handle, class Reply>
std::vector<Reply> collect(caf::actor_system& sys, const std::vector<Handle>& handles) {
  std::vector<Reply> out;
  caf::scoped_actor self{sys};
  for (auto& h : handles)
    self->request(h, std::chrono::seconds{5}, caf::get_atom_v)
        .receive([&](Reply& r) { out.push_back(std::move(r)); }, [](caf::error&) {});
  return out;
}

} // namespace

std::vector<messages::session_status> supervisor::sessions() {
  std::vector<actors::agent_session_actor> handles;
  for (auto& s : sessions_->list())
    handles.push_back(std::move(s.actor));
  return collect<actors::agent_session_actor, messages::session_status>(*system_, handles);
}

std::vector<messages::destination_status> supervisor::destinations() {
  return collect<actors::destination_actor, messages::destination_status>(
      *system_, pipeline_->destinations());
}

std::vector<messages::enricher_status> supervisor::enrichers() {
  return collect<actors::enricher_actor, messages::enricher_status>(*system_,
                                                                    pipeline_->enrichers());
}

std::uint64_t supervisor::label_ips() {
  std::uint64_t n = 0;
  caf::scoped_actor self{*system_};
  self->request(pipeline_->labels(), std::chrono::seconds{5}, caf::get_atom_v)
      .receive([&](std::uint64_t x) { n = x; }, [](caf::error&) {});
  return n;
}

messages::label_status supervisor::label_status(const std::string& ip) {
  messages::label_status out;
  caf::scoped_actor self{*system_};
  self->request(pipeline_->labels(), std::chrono::seconds{5}, caf::get_atom_v, ip)
      .receive([&](messages::label_status& x) { out = std::move(x); }, [](caf::error&) {});
  return out;
}

std::vector<messages::aggregator_status> supervisor::aggregators() {
  std::vector<messages::aggregator_status> out;
  caf::scoped_actor self{*system_};
  for (auto& a : pipeline_->aggregators())
    self->request(a, std::chrono::seconds{5}, caf::get_atom_v, actors::shard_atom_v)
        .receive([&](messages::aggregator_status& s) { out.push_back(std::move(s)); },
                 [](caf::error&) {});
  return out;
}

messages::flow_page supervisor::flows(const messages::flow_query& q) {
  messages::flow_page out;
  caf::scoped_actor self{*system_};
  // Every shard is asked at once; the page is filled in shard order.
  std::vector<decltype(self->request(pipeline_->aggregators().front(), std::chrono::seconds{5},
                                     caf::get_atom_v, q))>
      pending;
  for (auto& a : pipeline_->aggregators())
    pending.push_back(self->request(a, std::chrono::seconds{5}, caf::get_atom_v, q));
  for (auto& p : pending)
    p.receive(
        [&](messages::flow_page& page) {
          for (auto& f : page.flows) {
            if (out.flows.size() == q.limit) {
              out.more = true;
              break;
            }
            out.flows.push_back(std::move(f));
          }
          out.more = out.more || page.more;
        },
        [](caf::error&) {});
  return out;
}

std::vector<actor_row> supervisor::actors(std::chrono::milliseconds timeout) {
  std::vector<actor_row> rows;
  caf::scoped_actor self{*system_};
  // High priority: the request overtakes the batches queued before it, so a busy actor
  // answers after its current message, and the mailbox it reports is the queue behind.
  // CAF 0.17.6's request overload for std::chrono durations drops the priority argument,
  // hence caf::duration.
  const caf::duration wait{timeout};
  // Every interface answers (get, stats) with actor_stats, so each is asked as a
  // dynamically typed actor: the answers share one handle type.
  auto request = [&](const caf::actor& h) {
    return self->request<caf::message_priority::high>(h, wait, caf::get_atom_v,
                                                      actors::stats_atom_v);
  };
  std::vector<decltype(request(caf::actor{}))> pending;
  auto ask = [&](const caf::actor& h, std::string name, const char* role) {
    auto& row = rows.emplace_back();
    row.name = std::move(name);
    row.role = role;
    row.id = h.id();
    pending.push_back(request(h));
  };
  // All requests leave before any answer is awaited: the wait is one timeout in all,
  // however many actors are stuck.
  for (auto& a : pipeline_->named_actors())
    ask(a.handle, std::move(a.name), a.role);
  for (auto& s : sessions_->list())
    ask(caf::actor_cast<caf::actor>(s.actor), "agent_session:" + s.peer, "agent_session");
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
