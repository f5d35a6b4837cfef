#include "rpc/stream_server.hpp"

#include "ipfix/record.hpp"
#include "monitoring/log.hpp"
#include "rpc/cq_server.hpp"
#include "rpc/flow_decoder.hpp"
#include "rpc/flow_filter.hpp"
#include "service.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

namespace fa::rpc {

namespace {

enum class op : std::uint8_t { accepted, write, finish, done, wake };

/// One record kept for subscribers. The bytes vector keeps its capacity when the slot is
/// reused, so a warm ring copies without allocating.
struct ring_slot {
  messages::output_template_ptr tmpl;
  std::vector<std::uint8_t> bytes;
};

} // namespace

class stream_server::core : public std::enable_shared_from_this<core> {
 public:
  explicit core(stream_server_options o)
      : opts_(std::move(o))
      , ring_(std::max<std::size_t>(opts_.buffer, 1)) {}

  std::optional<std::string> start(int& bound) {
    grpc::ServerBuilder b;
    b.RegisterService(&service_);
    // A request is a handful of filters.
    b.SetMaxReceiveMessageSize(1024 * 1024);
    if (auto err = base_.build(b, opts_.host, opts_.port, opts_.credentials, &wake_tag_, bound))
      return err;
    cq_ = base_.cq();
    accept_next();
    base_.run([self = shared_from_this()] { self->run(); });
    return std::nullopt;
  }

  void shutdown() { base_.shutdown(); }

  void publish(const messages::enriched_payload& p) {
    {
      std::lock_guard guard{ring_mtx_};
      for (const auto& s : p.sets) {
        ipfix::record_layout layout{s.tmpl->def};
        ipfix::bytes_view body{p.bytes.data() + s.offset, s.length};
        auto keep = [&](ipfix::bytes_view rec) {
          auto& slot = ring_[head_ % ring_.size()];
          slot.tmpl = s.tmpl;
          slot.bytes.assign(rec.begin(), rec.end());
          ++head_;
        };
        // Where each record ends, from the values the enricher handed over (no walk)...
        if (auto varlen = p.varlen_of(s, layout.num_varlen()); !varlen.empty()) {
          ipfix::for_each_given(body, layout, varlen,
                                [&](ipfix::bytes_view rec, auto) { keep(rec); });
          continue;
        }
        // ... or by walking the records.
        ipfix::record_cursor cur{body, layout};
        ipfix::bytes_view rec;
        while (cur.next(rec))
          keep(rec);
      }
    }
    if (auto* w = base_.waker())
      w->wake();
  }

  stream_server_status status() const {
    stream_server_status st;
    {
      std::lock_guard guard{ring_mtx_};
      st.published = head_;
      st.buffered = std::min<std::uint64_t>(head_, ring_.size());
    }
    st.subscribers = subscribers_.load();
    st.subscribed = subscribed_.load();
    st.flows_sent = flows_sent_.load();
    st.responses_sent = responses_sent_.load();
    st.missed = missed_.load();
    return st;
  }

 private:
  struct subscriber;
  struct tag {
    subscriber* s = nullptr;
    op kind = op::accepted;
  };

  struct subscriber {
    std::uint64_t id = 0;
    grpc::ServerContext ctx;
    pb::GetFlowsRequest request;
    grpc::ServerAsyncWriter<pb::GetFlowsResponse> writer{&ctx};
    pb::GetFlowsResponse response; ///< reused: cleared flows keep their memory
    std::optional<flow_filter_set> filters;
    std::string peer;
    std::string label; ///< "<id>@<peer>" (the metric's subscriber label)
    prometheus::Counter* missed_metric = nullptr;
    std::uint64_t cursor = 0;
    std::uint64_t sent = 0;
    std::uint64_t missed = 0;
    tag t_accepted{this, op::accepted}, t_write{this, op::write}, t_finish{this, op::finish},
        t_done{this, op::done};
    int pending = 0;
    bool active = false; ///< counted as a subscriber
    bool writing = false;
    bool finished = false; ///< Finish was called
  };

  void accept_next() {
    if (base_.stopping)
      return;
    auto s = std::make_unique<subscriber>();
    s->id = ++next_id_;
    auto* raw = s.get();
    subs_[raw->id] = std::move(s);
    raw->ctx.AsyncNotifyWhenDone(&raw->t_done);
    service_.RequestGetFlows(&raw->ctx, &raw->request, &raw->writer, cq_, cq_, &raw->t_accepted);
    raw->pending = 1;
  }

  void run() {
    void* t = nullptr;
    bool ok = false;
    while (cq_->Next(&t, &ok)) {
      if (t == &wake_tag_) {
        base_.waker()->taken([] {});
        for (auto& [_, s] : subs_)
          if (s->active)
            pump(s.get());
        continue;
      }
      auto* tg = static_cast<tag*>(t);
      auto* s = tg->s;
      --s->pending;
      switch (tg->kind) {
      case op::accepted:
        on_accepted(s, ok);
        break;
      case op::write:
        s->writing = false;
        if (ok)
          pump(s);
        break;
      case op::finish:
      case op::done:
      case op::wake:
        break;
      }
      maybe_release(s);
    }
    subs_.clear();
  }

  void on_accepted(subscriber* s, bool ok) {
    if (!ok)
      return;     // shutting down: never started
    ++s->pending; // the done tag
    accept_next();
    s->peer = s->ctx.peer();
    if (base_.stopping) {
      finish(s, grpc::Status{grpc::StatusCode::UNAVAILABLE, "shutting down"});
      return;
    }
    if (subscribers_.load() >= opts_.max_subscribers) {
      refuse(s, "max_subscribers",
             grpc::Status{grpc::StatusCode::RESOURCE_EXHAUSTED, "too many subscribers"});
      return;
    }
    std::string error;
    s->filters = flow_filter_set::compile(s->request, error);
    if (!s->filters) {
      // 5, "Invalid filters": InvalidArgument before anything is read.
      refuse(s, "invalid_argument", grpc::Status{grpc::StatusCode::INVALID_ARGUMENT, error});
      return;
    }
    s->active = true;
    ++subscribers_;
    ++subscribed_;
    s->label = std::to_string(s->id) + "@" + s->peer;
    if (opts_.metrics) {
      opts_.metrics->subscribers().Increment();
      s->missed_metric = &opts_.metrics->subscriber_missed(s->label);
    }
    {
      // History first: the cursor starts at the oldest record kept.
      std::lock_guard guard{ring_mtx_};
      s->cursor = head_ > ring_.size() ? head_ - ring_.size() : 0;
    }
    monitoring::log(monitoring::log_level::info, "flow stream subscriber",
                    {{"destination", opts_.name},
                     {"subscriber", s->label},
                     {"filters", std::to_string(s->request.filters_size())},
                     {"follow", s->request.follow() ? "true" : "false"},
                     {"max_count", std::to_string(s->request.max_count())}});
    pump(s);
  }

  void refuse(subscriber* s, std::string_view reason, const grpc::Status& status) {
    if (opts_.metrics)
      opts_.metrics->refused(reason).Increment();
    monitoring::log(monitoring::log_level::warn, "flow stream subscriber refused",
                    {{"destination", opts_.name},
                     {"peer", s->peer},
                     {"reason", std::string{reason}},
                     {"detail", status.error_message()}});
    finish(s, status);
  }

  void finish(subscriber* s, const grpc::Status& status) {
    if (s->finished)
      return;
    s->finished = true;
    ++s->pending;
    s->writer.Finish(status, &s->t_finish);
  }

  /// Reads the subscriber's next records (at most `batch`) and writes those that match,
  /// until a write is in flight, the stream has ended, or the subscriber has caught up.
  void pump(subscriber* s) {
    const std::uint64_t limit = s->request.max_count();
    while (!s->writing && !s->finished) {
      if (limit != 0 && s->sent >= limit) {
        finish(s, grpc::Status::OK);
        return;
      }
      auto room = limit == 0 ? opts_.batch : std::min<std::uint64_t>(opts_.batch, limit - s->sent);
      auto& flows = *s->response.mutable_flows();
      flows.Clear();
      std::size_t examined = 0;
      bool missed_now = false;
      {
        std::lock_guard guard{ring_mtx_};
        const std::uint64_t oldest = head_ > ring_.size() ? head_ - ring_.size() : 0;
        if (s->cursor < oldest) {
          auto n = oldest - s->cursor;
          s->missed += n;
          missed_ += n;
          if (opts_.metrics)
            opts_.metrics->missed().Increment(static_cast<double>(n));
          if (s->missed_metric)
            s->missed_metric->Increment(static_cast<double>(n));
          s->cursor = oldest;
          missed_now = true;
        }
        while (s->cursor < head_ && examined < opts_.batch &&
               static_cast<std::uint64_t>(flows.size()) < room) {
          const auto& slot = ring_[s->cursor % ring_.size()];
          ++s->cursor;
          ++examined;
          auto* f = flows.Add(); // a cleared Flow kept from before, when there is one
          decoder(slot.tmpl).decode(slot.bytes, *f);
          if (!s->filters->matches(*f))
            flows.RemoveLast();
        }
      }
      // 5, "Batching": a response only when the batch has matching flows or records
      // were dropped.
      if (flows.size() > 0 || missed_now) {
        s->response.set_dropped_count(s->missed);
        s->sent += static_cast<std::uint64_t>(flows.size());
        flows_sent_ += static_cast<std::uint64_t>(flows.size());
        ++responses_sent_;
        if (opts_.metrics)
          opts_.metrics->flows_sent().Increment(static_cast<double>(flows.size()));
        s->writing = true;
        ++s->pending;
        s->writer.Write(s->response, &s->t_write);
        return;
      }
      if (examined == 0) {
        // Caught up. Non-follow streams end at the first empty read; followers wait for
        // the next publish.
        if (!s->request.follow())
          finish(s, grpc::Status::OK);
        return;
      }
    }
  }

  const flow_decoder& decoder(const messages::output_template_ptr& t) {
    auto i = decoders_.find(t.get());
    if (i != decoders_.end())
      return i->second.second;
    // Output templates change rarely; a bound keeps a long run's churn from piling up.
    if (decoders_.size() >= 1024)
      decoders_.clear();
    return decoders_.try_emplace(t.get(), t, flow_decoder{t->def}).first->second.second;
  }

  void maybe_release(subscriber* s) {
    if (s->pending > 0)
      return;
    if (s->active) {
      --subscribers_;
      if (opts_.metrics) {
        opts_.metrics->subscribers().Decrement();
        if (s->missed_metric)
          opts_.metrics->forget_subscriber(*s->missed_metric);
      }
      monitoring::log(monitoring::log_level::info, "flow stream subscriber left",
                      {{"destination", opts_.name},
                       {"subscriber", s->label},
                       {"flows", std::to_string(s->sent)},
                       {"missed", std::to_string(s->missed)}});
    }
    subs_.erase(s->id);
  }

  stream_server_options opts_;
  pb::FlowStreamService::AsyncService service_;
  cq_server base_;
  grpc::ServerCompletionQueue* cq_ = nullptr;
  tag wake_tag_{nullptr, op::wake};
  // The ring: written by publish (the destination actor), read by the server thread.
  mutable std::mutex ring_mtx_;
  std::vector<ring_slot> ring_;
  std::uint64_t head_ = 0; ///< sequence number of the next record
  // Server thread only.
  std::map<std::uint64_t, std::unique_ptr<subscriber>> subs_;
  std::unordered_map<const messages::output_template*,
                     std::pair<messages::output_template_ptr, flow_decoder>>
      decoders_;
  std::uint64_t next_id_ = 0;
  // Read by status() from any thread.
  std::atomic<std::uint64_t> subscribers_{0}, subscribed_{0}, flows_sent_{0}, responses_sent_{0},
      missed_{0};
};

std::variant<std::shared_ptr<stream_server>, std::string>
stream_server::start(stream_server_options o) {
  std::shared_ptr<stream_server> s{new stream_server};
  s->core_ = std::make_shared<core>(std::move(o));
  int bound = 0;
  if (auto err = s->core_->start(bound)) {
    s->core_->shutdown();
    s->core_.reset();
    return *err;
  }
  s->port_ = static_cast<std::uint16_t>(bound);
  return s;
}

stream_server::~stream_server() {
  if (core_)
    core_->shutdown();
}

void stream_server::publish(const messages::enriched_payload& p) {
  core_->publish(p);
}

stream_server_status stream_server::status() const {
  return core_->status();
}

} // namespace fa::rpc
