#include "actors/batch_sink.hpp"

#include "actors/actor_stats.hpp"
#include "monitoring/log.hpp"
#include "monitoring/rate_limited_log.hpp"

namespace fa::actors {

namespace {

using state_ptr = batch_sink_actor::stateful_pointer<batch_sink_state>;
using monitoring::log_level;

std::size_t payload_size(const messages::enriched_payload& p) {
  std::size_t n = 0;
  for (auto& s : p.sets)
    n += s.length;
  return n;
}

void publish_queue(state_ptr self) {
  auto& st = self->state;
  st.status.queued_bytes = st.queued_bytes;
  st.status.queued_batches = st.queue.size();
  st.status.queued_records = st.queued_records;
  if (st.metrics.queue_bytes)
    st.metrics.queue_bytes->Set(static_cast<double>(st.queued_bytes));
  if (st.sink_metrics.queued_rows)
    st.sink_metrics.queued_rows->Set(static_cast<double>(st.queued_records));
}

void answer_drains(state_ptr self) {
  auto& st = self->state;
  if (!st.queue.empty())
    return;
  for (auto& rp : st.drains)
    rp.deliver(true);
  st.drains.clear();
}

/// Hands the next batch to the worker when one is due: at once without a commit
/// interval, on a drain, with `max_rows` queued, or once the oldest record waited
/// `commit_interval`; otherwise arms the timer for that moment.
void maybe_commit(state_ptr self, bool force = false) {
  auto& st = self->state;
  if (st.inflight > 0 || st.queue.empty())
    return;
  const auto& cfg = st.cfg;
  auto now = self->clock().now();
  auto waited = now - st.queue.front().at;
  bool due = force || !st.drains.empty() || cfg.commit_interval.count() == 0 ||
             (cfg.max_rows != 0 && st.queued_records >= cfg.max_rows) ||
             waited >= cfg.commit_interval;
  if (!due) {
    if (!st.timer_armed) {
      st.timer_armed = true;
      auto wait =
          cfg.commit_interval - std::chrono::duration_cast<std::chrono::milliseconds>(waited);
      self->delayed_send(self, wait, caf::flush_atom_v, ++st.timer_gen);
    }
    return;
  }
  std::vector<sinks::payload_ptr> batch;
  std::uint64_t rows = 0;
  std::size_t k = 0;
  while (k < st.queue.size() &&
         (k == 0 || cfg.max_rows == 0 || rows + st.queue[k].records <= cfg.max_rows)) {
    batch.push_back(st.queue[k].payload);
    rows += st.queue[k].records;
    ++k;
  }
  st.inflight = k;
  st.inflight_records = rows;
  st.worker->submit(++st.job, std::move(batch));
}

/// The batch in flight is done (written or rejected): its entries leave the queue and
/// release their credits.
void finish_inflight(state_ptr self) {
  auto& st = self->state;
  for (; st.inflight > 0; --st.inflight) {
    auto& e = st.queue.front();
    st.queued_bytes -= e.bytes;
    st.queued_records -= e.records;
    st.queue.pop_front();
  }
  st.inflight_records = 0;
  publish_queue(self);
}

/// What the worker thread does after each attempt: metrics and logs (both thread-safe),
/// then a message to the actor. Holds the actor weakly (STYLE: no strong cycles).
sinks::batch_worker::report_fn make_report(state_ptr self) {
  caf::weak_actor_ptr weak{self->ctrl()};
  auto m = self->state.sink_metrics;
  auto name = self->state.cfg.name;
  auto kind = self->state.cfg.kind;
  // Only the worker's thread calls it: a plain limiter.
  auto limiter = std::make_shared<monitoring::log_rate_limiter>(3, std::chrono::seconds{10});
  return [weak, m, name, kind, limiter](std::uint64_t job, const sinks::write_report& r,
                                        std::chrono::nanoseconds took, bool final) {
    using sinks::write_outcome;
    if (r.outcome == write_outcome::ok && m.writes) {
      m.writes->Increment();
      m.rows->Increment(static_cast<double>(r.rows));
      m.write_seconds->Observe(std::chrono::duration<double>(took).count());
      if (m.filtered && r.skipped > 0)
        m.filtered->Increment(static_cast<double>(r.skipped));
      if (m.rotations && r.rotations > 0)
        m.rotations->Increment(static_cast<double>(r.rotations));
    } else if (auto* c = r.outcome != write_outcome::ok ? m.failure(r.reason) : nullptr) {
      c->Increment();
    }
    if (r.outcome != write_outcome::ok || !r.warning.empty()) {
      if (!r.warning.empty())
        if (auto* c = m.failure("compress"))
          c->Increment();
      if (auto suppressed = limiter->admit()) {
        auto what = r.outcome == write_outcome::ok      ? "write succeeded with a problem"
                    : r.outcome == write_outcome::retry ? "write failed, retrying"
                                                        : "write rejected, batch dropped";
        monitoring::log(r.outcome == write_outcome::rejected ? log_level::error : log_level::warn,
                        std::string{kind} + " " + what,
                        {{"destination", name},
                         {"reason", r.reason},
                         {"detail", r.outcome == write_outcome::ok ? r.warning : r.detail},
                         {"suppressed", std::to_string(*suppressed)}});
      }
    }
    auto strong = weak.lock();
    if (!strong)
      return;
    auto to = caf::actor_cast<batch_sink_actor>(strong);
    if (final)
      caf::anon_send(to, written_atom_v, job, static_cast<std::uint64_t>(r.outcome), r.rows,
                     r.bytes);
    else
      caf::anon_send(to, disconnected_atom_v, job);
  };
}

} // namespace

batch_sink_actor::behavior_type
batch_sink(batch_sink_actor::stateful_pointer<batch_sink_state> self, batch_sink_config cfg) {
  auto& st = self->state;
  if (!cfg.backend || cfg.retry.min.count() <= 0 || cfg.retry.max < cfg.retry.min ||
      cfg.commit_interval.count() < 0) {
    self->quit(caf::make_error(caf::sec::invalid_argument, "batch_sink: bad config"));
    return batch_sink_actor::behavior_type::make_empty_behavior();
  }
  st.status.name = cfg.name;
  st.status.url = cfg.url;
  st.status.state = "connected";
  if (cfg.metrics) {
    st.metrics = cfg.metrics->destination(cfg.name);
    auto reasons = cfg.backend->failure_reasons();
    st.sink_metrics = cfg.kind == "clickhouse" ? cfg.metrics->clickhouse(cfg.name, reasons)
                                               : cfg.metrics->flow_log(cfg.name, reasons);
    st.dropped_rejected = &cfg.metrics->records_dropped(cfg.name, "rejected");
    st.metrics.up->Set(1);
  }
  st.cfg = std::move(cfg);
  auto report = make_report(self);
  st.worker = std::make_unique<sinks::batch_worker>(
      "fa-" + st.cfg.kind + "-" + st.cfg.name, st.cfg.backend, st.cfg.retry, std::move(report));
  return counted_behavior{
      self,
      [=](messages::enriched_batch& b) {
        auto& st = self->state;
        auto size = payload_size(*b.payload);
        auto records = b.payload->records;
        if (!st.cfg.block && st.queued_bytes + size > st.cfg.queue_size) {
          // DESIGN 3: dropped on purpose and counted.
          st.status.dropped_records += records;
          if (st.metrics.dropped_queue_full)
            st.metrics.dropped_queue_full->Increment(static_cast<double>(records));
          return;
        }
        st.queue.push_back(
            {std::move(b.payload), std::move(b.hold), records, size, self->clock().now()});
        st.queued_bytes += size;
        st.queued_records += records;
        publish_queue(self);
        maybe_commit(self);
      },
      [=](drain_atom) -> caf::result<bool> {
        auto& st = self->state;
        if (st.queue.empty())
          return true;
        st.drains.push_back(self->make_response_promise<bool>());
        maybe_commit(self, true);
        return st.drains.back();
      },
      [=](caf::get_atom) { return self->state.status; },
      [=](written_atom, std::uint64_t job, std::uint64_t outcome, std::uint64_t rows,
          std::uint64_t bytes) {
        auto& st = self->state;
        if (job != st.job || st.inflight == 0)
          return;
        if (outcome == static_cast<std::uint64_t>(sinks::write_outcome::ok)) {
          st.status.sent_records += rows;
          ++st.status.sent_messages;
          st.status.sent_bytes += bytes;
          if (st.metrics.records) {
            st.metrics.records->Increment(static_cast<double>(rows));
            st.metrics.messages->Increment();
            st.metrics.bytes->Increment(static_cast<double>(bytes));
          }
        } else {
          // Refused for its content: not retried forever; dropped and counted.
          st.status.dropped_records += st.inflight_records;
          if (st.dropped_rejected)
            st.dropped_rejected->Increment(static_cast<double>(st.inflight_records));
        }
        st.status.state = "connected";
        if (st.metrics.up)
          st.metrics.up->Set(1);
        finish_inflight(self);
        answer_drains(self);
        maybe_commit(self);
      },
      [=](disconnected_atom, std::uint64_t job) {
        auto& st = self->state;
        if (job != st.job)
          return;
        st.status.state = "backoff";
        ++st.status.reconnects;
        if (st.metrics.up) {
          st.metrics.up->Set(0);
          st.metrics.reconnects->Increment();
        }
      },
      [=](caf::flush_atom, std::uint64_t gen) {
        auto& st = self->state;
        if (gen != st.timer_gen)
          return;
        st.timer_armed = false;
        maybe_commit(self);
      },
  };
}

} // namespace fa::actors
